"""Training data from rendered frames: an ultralytics detection dataset and identity crops.

Detection classes (``--yolo-classes``):
- ``identity``: one class per ball identity (``cue_ball``, ``ball_1`` .. ``ball_15``) plus
  ``pocket``, fixed across ball sets so models stay compatible;
- ``ball``: class-agnostic ``ball`` plus ``pocket`` (the bundled detector; identity comes
  from the crop classifier, ``edge_detsam2.detector.identity``).

Identity crops (``--crops DIR``): square crops around each visible ball, cut from the
full-resolution frame exactly as the runtime cuts them (``identity.crop_boxes``), with the
box jittered the way a detector errs; stored as ``DIR/<split>/<label>/<name>.png``.

Camera augmentation that the renderer cannot do without breaking its exact geometry is
applied here: radial lens distortion (image and boxes together) and JPEG re-coding.
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
BALL_CLASS_NAMES = ("ball", "pocket")
IDENTITY_NAMES = CLASS_NAMES[:-1]
#: A ball hidden by more than this share of its disc (by the cue or a hand) gets no label.
MIN_VISIBLE_FRACTION = 0.35
F64 = NDArray[np.float64]


class YoloDatasetWriter:
    """Writes sampled frames and their labels under ``root``; ``finish()`` writes data.yaml."""

    def __init__(
        self,
        root: Path,
        *,
        classes: str = "identity",
        crops: Path | None = None,
        augment: bool = False,
        seed: int = 0,
    ) -> None:
        if classes not in ("identity", "ball"):
            raise ValueError(f"classes must be identity or ball, not {classes!r}")
        self.root, self.classes, self.crops, self.augment = root, classes, crops, augment
        self.rng = np.random.default_rng([seed, 77])
        for split in ("train", "val"):
            (root / "images" / split).mkdir(parents=True, exist_ok=True)
            (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        self.counts = {"train": 0, "val": 0}
        self.crop_counts = {"train": 0, "val": 0}

    @property
    def names(self) -> tuple[str, ...]:
        return CLASS_NAMES if self.classes == "identity" else BALL_CLASS_NAMES

    def _cls(self, label: str) -> int:
        if self.classes == "identity":
            return CLASS_INDEX[label]
        return 1 if label == "pocket" else 0

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
        boxes: list[tuple[float, float, float, float]] = []
        labels: list[str] = []
        for m in masks:
            if m.area < MIN_VISIBLE_FRACTION * disc_area_px[m.id]:
                continue
            bh, bw = m.box.shape
            boxes.append((float(m.x), float(m.y), float(m.x + bw), float(m.y + bh)))
            labels.append(m.label)
        if self.crops is not None:
            self._add_crops(split, name, image_rgb, boxes, labels)
        for u, v, r in pockets_px:
            boxes.append((u - r, v - r, u + r, v + r))
            labels.append("pocket")
        image = image_rgb
        box_arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        quality = 95
        if self.augment:
            if self.rng.uniform() < 0.5:
                image, box_arr = lens_distort(image, box_arr, float(self.rng.uniform(-0.15, 0.1)))
            quality = int(self.rng.integers(40, 96))
        lines = [
            _line(self._cls(lb), float(b[0]), float(b[1]), float(b[2]), float(b[3]), w, h)
            for lb, b in zip(labels, box_arr, strict=True)
        ]
        cv2.imwrite(
            str(self.root / "images" / split / f"{name}.jpg"),
            cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
            [cv2.IMWRITE_JPEG_QUALITY, quality],
        )
        (self.root / "labels" / split / f"{name}.txt").write_text("".join(lines))
        self.counts[split] += 1

    def _add_crops(
        self,
        split: str,
        name: str,
        image_rgb: NDArray[np.uint8],
        boxes: list[tuple[float, float, float, float]],
        labels: list[str],
    ) -> None:
        from edge_detsam2.detector.identity import crop_boxes

        assert self.crops is not None
        if not boxes:
            return
        b = np.asarray(boxes, dtype=np.float64)
        size = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1])[:, None]
        centre = (b[:, :2] + b[:, 2:]) / 2 + self.rng.normal(0, 0.08, (len(b), 2)) * size
        half = size / 2 * self.rng.uniform(0.9, 1.12, (len(b), 1))
        jittered = np.concatenate([centre - half, centre + half], axis=1)
        for k, (crop, label) in enumerate(zip(crop_boxes(image_rgb, jittered), labels, strict=True)):
            out = self.crops / split / label
            out.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / f"{name}_{k:02d}.png"), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
            self.crop_counts[split] += 1

    def finish(self) -> Path:
        data = {
            "path": str(self.root.resolve()),
            "train": "images/train",
            "val": "images/val",
            "names": dict(enumerate(self.names)),
        }
        out = self.root / "data.yaml"
        out.write_text(yaml.safe_dump(data, sort_keys=False))
        return out


def _distort_map(w: int, h: int, k1: float) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy, r2 = (w - 1) / 2, (h - 1) / 2, (w / 2) ** 2 + (h / 2) ** 2
    d = 1 + k1 * ((xx - cx) ** 2 + (yy - cy) ** 2) / r2
    return (cx + (xx - cx) * d).astype(np.float32), (cy + (yy - cy) * d).astype(np.float32)


def lens_distort(image: NDArray[np.uint8], boxes: F64, k1: float) -> tuple[NDArray[np.uint8], F64]:
    """Radial distortion (k1 < 0 barrel, > 0 pincushion) of an image and its xyxy boxes."""
    h, w = image.shape[:2]
    mx, my = _distort_map(w, h, k1)
    out = cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    if not len(boxes):
        return np.asarray(out, dtype=np.uint8), boxes
    cx, cy, r2 = (w - 1) / 2, (h - 1) / 2, (w / 2) ** 2 + (h / 2) ** 2
    s = np.linspace(0, 1, 7)
    new = []
    for x1, y1, x2, y2 in boxes:
        xs = np.concatenate([x1 + (x2 - x1) * s, np.full(7, x2), x1 + (x2 - x1) * s, np.full(7, x1)])
        ys = np.concatenate([np.full(7, y1), y1 + (y2 - y1) * s, np.full(7, y2), y1 + (y2 - y1) * s])
        q = np.stack([xs - cx, ys - cy], axis=1)
        u = q.copy()
        for _ in range(12):  # invert src = c + u (1 + k1 |u|^2 / r2) by fixed-point iteration
            u = q / (1 + k1 * (u**2).sum(axis=1, keepdims=True) / r2)
        p = u + [cx, cy]
        new.append((p[:, 0].min(), p[:, 1].min(), p[:, 0].max(), p[:, 1].max()))
    return np.asarray(out, dtype=np.uint8), np.asarray(new, dtype=np.float64)


def _line(cls: int, x1: float, y1: float, x2: float, y2: float, w: int, h: int) -> str:
    x1, x2 = max(0.0, x1), min(float(w), x2)
    y1, y2 = max(0.0, y1), min(float(h), y2)
    cx, cy = (x1 + x2) / 2 / w, (y1 + y2) / 2 / h
    return f"{cls} {cx:.6f} {cy:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}\n"
