"""``Detections``: boxes of one frame, shape-checked (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Detections:
    """N boxes (x1, y1, x2, y2 in video pixels) with scores and class labels."""

    boxes: NDArray[np.float64]
    scores: NDArray[np.float64]
    labels: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.boxes.shape != (n, 4) or self.scores.shape != (n,):
            raise ValueError(f"Detections: boxes {self.boxes.shape}, scores {self.scores.shape}, {n} labels")

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), ())

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, keep: NDArray[np.bool_]) -> Detections:
        return Detections(
            self.boxes[keep], self.scores[keep], tuple(lb for lb, k in zip(self.labels, keep, strict=True) if k)
        )
