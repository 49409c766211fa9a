"""One frame preparation for SAM2, shared by serving, training and export.

SAM2's own frame loader resizes with PIL (bilinear, antialiased on downscale) to a square,
divides by 255 and applies ImageNet normalisation. Training packs frames with the same
resize, so the model is trained on exactly the pixels it sees in service.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

#: ImageNet normalisation used by SAM2's frame loader.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def resize_square(frame_rgb: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """(H, W, 3) RGB uint8 -> (size, size, 3) uint8, exactly as SAM2's loader resizes."""
    from PIL import Image

    return np.asarray(Image.fromarray(frame_rgb).convert("RGB").resize((size, size)), dtype=np.uint8)


def normalize(x: Any) -> Any:
    """Float images in [0, 1], channels at dim -3 (``(3, H, W)`` or ``(B, 3, H, W)``) -> SAM2's input."""
    import torch

    mean = torch.tensor(MEAN, dtype=x.dtype, device=x.device).view(3, 1, 1)
    std = torch.tensor(STD, dtype=x.dtype, device=x.device).view(3, 1, 1)
    return (x - mean) / std


def to_model_input(frame_rgb: NDArray[np.uint8], size: int, device: Any = "cpu") -> Any:
    """(H, W, 3) RGB uint8 camera frame -> (1, 3, size, size) float32 tensor, as SAM2's loader makes it."""
    import torch

    img = resize_square(frame_rgb, size)
    x = torch.from_numpy(img / 255.0).permute(2, 0, 1).float()
    return normalize(x).unsqueeze(0).to(device)


def to_uint8_image(x: Any) -> NDArray[np.uint8]:
    """The inverse of ``normalize`` for one (3, H, W) tensor: an (H, W, 3) uint8 image."""
    img = x.permute(1, 2, 0).cpu().numpy() * np.array(STD) + np.array(MEAN)
    return np.asarray(img.clip(0, 1) * 255, dtype=np.float64).astype(np.uint8)
