"""``Frame``: the currency from a source into the pipeline (image, index, time on the source clock)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Frame:
    """One camera frame. ``index`` counts every frame the camera produced, dropped ones too.

    ``t_s`` is stream time on the source clock (file: index / fps; live: seconds since the
    first frame). Every duration downstream (tracker lifetimes, event timing) is measured
    on it, so a live camera that drops frames does not stretch "absent for 1 s".
    """

    index: int
    t_s: float
    wall: float  # capture wall-clock time (time.time())
    image_rgb: NDArray[np.uint8]
