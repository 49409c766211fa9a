"""Plain builder and reader helpers shared by the tests (not fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_detsam2.events.types import Event, read_events_jsonl
from edge_detsam2.geometry import TableCalibration, load_calibration
from edge_detsam2.sim.masks import InstanceMask, read_masks
from edge_detsam2.tracks import TrackFrame, read_tracks


class Clip:
    """Everything ``simulate`` wrote for one clip, loaded for assertions."""

    def __init__(self, directory: Path, name: str) -> None:
        self.dir, self.name = directory, name
        self.calibration: TableCalibration = load_calibration(directory / f"{name}.table.yaml")
        self.events: list[Event] = read_events_jsonl(str(directory / f"{name}.events.jsonl"))
        self.tracks: list[TrackFrame] = list(read_tracks(directory / f"{name}.tracks.jsonl"))
        self.masks: dict[int, list[InstanceMask]] = {f: m for f, _, m in read_masks(directory / f"{name}.masks.jsonl")}
        manifest = json.loads((directory / "manifest.json").read_text())
        self.meta: dict[str, Any] = next(c for c in manifest["clips"] if c["clip"] == name)
        self.fps = float(self.meta["fps"])
        self.h = self.calibration.homography

    @property
    def video(self) -> Path:
        return self.dir / f"{self.name}.mp4"

    def frames(self, wanted: set[int]) -> dict[int, np.ndarray]:
        """Decoded RGB frames of the video at the given indices."""
        cap = cv2.VideoCapture(str(self.video))
        out, i = {}, 0
        while len(out) < len(wanted):
            ok, img = cap.read()
            if not ok:
                break
            if i in wanted:
                out[i] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
            i += 1
        cap.release()
        return out

    def positions_m(self, frame: int) -> dict[str, np.ndarray]:
        """Ball label -> table position (m) from the tracks of one frame."""
        fr = self.tracks[frame]
        return {o.label: self.h.to_table(np.array([o.cx, o.cy])) for o in fr.objects}


def disc_mean(img: np.ndarray, cx: float, cy: float, r: float) -> np.ndarray:
    """Mean colour of the pixels within r of (cx, cy)."""
    yy, xx = np.mgrid[0 : img.shape[0], 0 : img.shape[1]]
    sel = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
    return np.asarray(img[sel].reshape(-1, 3).mean(axis=0))
