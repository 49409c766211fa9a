"""``Detections``: boxes of one frame, shape-checked (numpy only)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Detections:
    """N boxes (x1, y1, x2, y2 in video pixels) with scores and class labels.

    ``identity`` optionally holds, per detection, the probability of each name in
    ``identity_names`` (from the identity classifier); rows of non-ball detections are zero.
    """

    boxes: NDArray[np.float64]
    scores: NDArray[np.float64]
    labels: tuple[str, ...]
    identity: NDArray[np.float64] | None = None
    identity_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.labels)
        if self.boxes.shape != (n, 4) or self.scores.shape != (n,):
            raise ValueError(f"Detections: boxes {self.boxes.shape}, scores {self.scores.shape}, {n} labels")
        if self.identity is not None and self.identity.shape != (n, len(self.identity_names)):
            raise ValueError(
                f"Detections: identity {self.identity.shape} for {n} boxes and {len(self.identity_names)} names"
            )

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), ())

    def __len__(self) -> int:
        return len(self.labels)

    def select(self, keep: NDArray[np.bool_]) -> Detections:
        return Detections(
            self.boxes[keep],
            self.scores[keep],
            tuple(lb for lb, k in zip(self.labels, keep, strict=True) if k),
            None if self.identity is None else self.identity[keep],
            self.identity_names,
        )
