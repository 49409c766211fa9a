"""Compact instance masks: run-length encoding inside each object's bounding box.

One JSON line per frame: ``{"frame": i, "size": [H, W], "masks": [{"id", "label",
"bbox": [x, y, w, h], "rle": [zeros, ones, zeros, ...]}]}``; runs are row-major
inside the box and start with a (possibly empty) run of zeros.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.errors import InputFormatError

Bool2D = NDArray[np.bool_]


def rle_encode(mask: Bool2D) -> list[int]:
    """Row-major run lengths, starting with zeros."""
    flat = np.ascontiguousarray(mask, dtype=np.uint8).ravel()
    if flat.size == 0:
        return []
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    return ([0] if flat[0] else []) + [int(r) for r in runs]


def rle_decode(runs: list[int], shape: tuple[int, int]) -> Bool2D:
    total = shape[0] * shape[1]
    if sum(runs) != total:
        raise InputFormatError(f"mask rle covers {sum(runs)} pixels, box has {total}")
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    return np.repeat(values, runs).reshape(shape)


@dataclass(frozen=True)
class InstanceMask:
    """A boolean mask stored as its bounding box (x, y, w, h) plus the pixels inside it."""

    id: str
    label: str
    x: int
    y: int
    box: Bool2D

    @property
    def area(self) -> int:
        return int(self.box.sum())

    def full(self, size: tuple[int, int]) -> Bool2D:
        out = np.zeros(size, dtype=bool)
        h, w = self.box.shape
        out[self.y : self.y + h, self.x : self.x + w] = self.box
        return out

    def to_dict(self) -> dict[str, Any]:
        h, w = self.box.shape
        return {
            "id": self.id,
            "label": self.label,
            "bbox": [self.x, self.y, w, h],
            "rle": rle_encode(self.box),
        }

    @classmethod
    def from_full(cls, oid: str, label: str, mask: Bool2D, offset: tuple[int, int] = (0, 0)) -> InstanceMask | None:
        """Crop a mask (placed at ``offset`` in the image) to its bounding box; None if empty."""
        ys, xs = np.nonzero(mask)
        if len(ys) == 0:
            return None
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        return cls(oid, label, int(x0 + offset[0]), int(y0 + offset[1]), mask[y0:y1, x0:x1].copy())


def frame_masks_json(frame: int, size: tuple[int, int], masks: list[InstanceMask]) -> str:
    return json.dumps(
        {"frame": frame, "size": list(size), "masks": [m.to_dict() for m in masks]},
        separators=(",", ":"),
    )


def read_masks(path: str | Path) -> Iterator[tuple[int, tuple[int, int], list[InstanceMask]]]:
    """Yield (frame, (H, W), masks) per line of a masks JSONL file."""
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            try:
                d = json.loads(line)
                size = (int(d["size"][0]), int(d["size"][1]))
                masks = []
                for m in d["masks"]:
                    x, y, w, h = (int(v) for v in m["bbox"])
                    masks.append(InstanceMask(str(m["id"]), str(m["label"]), x, y, rle_decode(m["rle"], (h, w))))
            except (KeyError, ValueError, TypeError, json.JSONDecodeError) as exc:
                raise InputFormatError(f"{path}:{lineno}: bad masks line ({exc})") from None
            yield int(d["frame"]), size, masks


def read_clip(directory: Path, name: str) -> Iterator[tuple[int, NDArray[np.uint8], list[InstanceMask]]]:
    """Yield (frame, RGB image, masks) of a rendered clip (``NAME.mp4`` with ``NAME.masks.jsonl``)
    in step, up to the shorter of the two."""
    import cv2

    video, masks_path = directory / f"{name}.mp4", directory / f"{name}.masks.jsonl"
    if not masks_path.is_file():
        raise InputFormatError(f"{masks_path} is missing; render the clip with edge-detsam2 simulate")
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise InputFormatError(f"{video} cannot be read; render it with edge-detsam2 simulate (no --no-video)")
    try:
        for i, _size, masks in read_masks(masks_path):
            ok, bgr = cap.read()
            if not ok:
                break
            yield i, np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)), masks
    finally:
        cap.release()
