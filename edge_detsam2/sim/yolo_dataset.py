"""An ultralytics detection dataset from rendered frames (images/, labels/, data.yaml).

Classes are fixed across ball sets so models stay compatible: one per ball identity
(``cue_ball``, ``ball_1`` .. ``ball_15``) plus ``pocket``.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml
from numpy.typing import NDArray

from edge_detsam2.sim.masks import InstanceMask

CLASS_NAMES = ("cue_ball", *(f"ball_{n}" for n in range(1, 16)), "pocket")
CLASS_INDEX = {name: i for i, name in enumerate(CLASS_NAMES)}
#: A ball hidden by more than this share of its disc (by the cue) gets no label.
MIN_VISIBLE_FRACTION = 0.35


class YoloDatasetWriter:
    """Writes sampled frames and their labels under ``root``; ``finish()`` writes data.yaml."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for split in ("train", "val"):
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        self.counts = {"train": 0, "val": 0}

    def add(
        self,
        split: str,
        name: str,
        image_rgb: NDArray[np.uint8],
        masks: list[InstanceMask],
        disc_area_px: dict[str, float],
        pockets_px: list[tuple[float, float, float]],
    ) -> None:
        h, w = image_rgb.shape[:2]
        lines = []
        for m in masks:
            if m.area < MIN_VISIBLE_FRACTION * disc_area_px[m.id]:
                continue
            bh, bw = m.box.shape
            lines.append(_line(CLASS_INDEX[m.label], m.x, m.y, m.x + bw, m.y + bh, w, h))
        for u, v, r in pockets_px:
            lines.append(_line(CLASS_INDEX["pocket"], u - r, v - r, u + r, v + r, w, h))
        cv2.imwrite(
            str(self.root / "images" / split / f"{name}.jpg"),
            cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR),
        )
        (self.root / "labels" / split / f"{name}.txt").write_text("".join(lines))
        self.counts[split] += 1

    def finish(self) -> Path:
        data = {
            "path": str(self.root.resolve()),
            "train": "images/train",
            "val": "images/val",
            "names": dict(enumerate(CLASS_NAMES)),
        }
        out = self.root / "data.yaml"
        out.write_text(yaml.safe_dump(data, sort_keys=False))
        return out


def _line(cls: int, x1: float, y1: float, x2: float, y2: float, w: int, h: int) -> str:
    x1, x2 = max(0.0, x1), min(float(w), x2)
    y1, y2 = max(0.0, y1), min(float(h), y2)
    cx, cy = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h
    return f"{cls} {cx:.6f} {cy:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}\n"
