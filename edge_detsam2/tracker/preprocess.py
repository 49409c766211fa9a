"""One frame preparation for SAM2, shared by serving, training and export.

SAM2's own frame loader resizes with PIL (bilinear, antialiased on downscale) to a square,
divides by 255 and applies ImageNet normalisation. Training packs frames with the same
resize, so the model is trained on exactly the pixels it sees in service.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: ImageNet normalisation used by SAM2's frame loader.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def resize_square(frame_rgb: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """(H, W, 3) RGB uint8 -> (size, size, 3) uint8, exactly as SAM2's loader resizes."""
    from PIL import Image

    return np.asarray(Image.fromarray(frame_rgb).convert("RGB").resize((size, size)), dtype=np.uint8)
