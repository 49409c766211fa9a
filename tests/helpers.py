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


# ---- synthetic trajectories for the event rules ---------------------------------------

R_BALL = 0.028575


def calibration(px_per_m: float = 500.0, keystone: float = 0.03, length_m: float = 2.54) -> TableCalibration:
    """A 16:9 camera view of the table with a mild keystone (far edge shorter)."""
    width_m = length_m / 2
    half_l, half_w = length_m / 2 * px_per_m, width_m / 2 * px_per_m
    cx, cy = half_l + 0.15 * px_per_m, half_w + 0.15 * px_per_m
    corners = [
        (cx - half_l * (1 - keystone), cy - half_w),
        (cx + half_l * (1 - keystone), cy - half_w),
        (cx + half_l, cy + half_w),
        (cx - half_l, cy + half_w),
    ]
    return TableCalibration(length_m=length_m, width_m=width_m, ball_radius_m=R_BALL, corners_px=corners)  # type: ignore[arg-type]


def path(*knots: tuple[float, float, float]):  # type: ignore[no-untyped-def]
    """Piecewise-linear motion through (t, x, y) knots; still before the first and after the last."""
    ts = np.array([k[0] for k in knots])
    xs = np.array([k[1] for k in knots])
    ys = np.array([k[2] for k in knots])
    return lambda t: np.array([np.interp(t, ts, xs), np.interp(t, ts, ys)])


def track_frames(
    balls: dict[str, Any],
    cal: TableCalibration,
    *,
    fps: float,
    t_end: float,
    hidden: dict[str, list[tuple[float, float]]] | None = None,
) -> list[TrackFrame]:
    """Tracks JSONL frames (pixels) for ball paths given in table metres."""
    from edge_detsam2.tracks import TrackedObject

    h = cal.homography
    ids = {label: str(i) for i, label in enumerate(sorted(balls))}
    frames = []
    for i in range(round(t_end * fps) + 1):
        t = i / fps
        objs = []
        for label, fn in balls.items():
            if any(a <= t < b for a, b in (hidden or {}).get(label, [])):
                continue
            u, v = h.to_image(fn(t))
            objs.append(TrackedObject(ids[label], label, float(u), float(v)))
        frames.append(TrackFrame(i, t, tuple(objs)))
    return frames
