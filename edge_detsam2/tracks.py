"""Tracks JSONL: one JSON object per frame (INTERFACES.md, "Tracks JSONL").

The format is written by the simulator (exact ground truth) and by the daemon
(``tracks_out``), and read by ``edge-detsam2 events`` for offline replay.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from edge_detsam2.errors import InputFormatError
from edge_detsam2.jsonl import jsonl_lines


@dataclass(frozen=True)
class TrackedObject:
    """One object in one frame; centre and radius in image pixels."""

    id: str
    label: str
    cx: float
    cy: float
    r: float | None = None
    bbox: tuple[float, float, float, float] | None = None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "label": self.label,
            "cx": round(self.cx, 2),
            "cy": round(self.cy, 2),
        }
        if self.r is not None:
            out["r"] = round(self.r, 2)
        if self.bbox is not None:
            out["bbox"] = [round(v, 1) for v in self.bbox]
        if self.score is not None:
            out["score"] = round(self.score, 3)
        return out


@dataclass(frozen=True)
class TrackFrame:
    """All objects visible in one frame. ``t_s`` is seconds since stream start."""

    frame: int
    t_s: float
    objects: tuple[TrackedObject, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "frame": self.frame,
                "t": round(self.t_s, 6),
                "objects": [o.to_dict() for o in self.objects],
            },
            separators=(",", ":"),
        )


def _require(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise InputFormatError(f"{where}: missing field {key!r}; see INTERFACES.md 'Tracks JSONL'")
    return obj[key]


def _number(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputFormatError(f"{where}: field {key!r} must be a finite number, got {value!r}")
    return float(value)


def parse_track_object(obj: Any, where: str) -> TrackedObject:
    if not isinstance(obj, dict):
        raise InputFormatError(f"{where}: each object must be a JSON object")
    oid = _require(obj, "id", where)
    if not isinstance(oid, str | int) or isinstance(oid, bool):
        raise InputFormatError(f"{where}: field 'id' must be a string or an integer")
    label = _require(obj, "label", where)
    if not isinstance(label, str) or not label:
        raise InputFormatError(f"{where}: field 'label' must be a non-empty string")
    bbox = obj.get("bbox")
    if bbox is not None:
        if not isinstance(bbox, list) or len(bbox) != 4:
            raise InputFormatError(f"{where}: field 'bbox' must be [x1, y1, x2, y2]")
        bbox = tuple(_number(v, "bbox", where) for v in bbox)
    return TrackedObject(
        id=str(oid),
        label=label,
        cx=_number(_require(obj, "cx", where), "cx", where),
        cy=_number(_require(obj, "cy", where), "cy", where),
        r=_number(obj["r"], "r", where) if obj.get("r") is not None else None,
        bbox=bbox,
        score=_number(obj["score"], "score", where) if obj.get("score") is not None else None,
    )


def parse_track_frame(line: str, where: str) -> TrackFrame:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputFormatError(f"{where}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise InputFormatError(f"{where}: each line must be a JSON object")
    frame = _require(data, "frame", where)
    if not isinstance(frame, int) or isinstance(frame, bool) or frame < 0:
        raise InputFormatError(f"{where}: field 'frame' must be an integer >= 0")
    t_s = _number(_require(data, "t", where), "t", where)
    objects = data.get("objects", [])
    if not isinstance(objects, list):
        raise InputFormatError(f"{where}: field 'objects' must be a list")
    return TrackFrame(
        frame=frame,
        t_s=t_s,
        objects=tuple(parse_track_object(o, f"{where}: objects[{i}]") for i, o in enumerate(objects)),
    )


def read_tracks(path: str | Path, *, runs: bool = False) -> Iterator[TrackFrame]:
    """Stream frames from a tracks JSONL file; frames must be in increasing order.

    ``runs=True`` also accepts a file the daemon appended to across restarts: a frame 0 after
    a later frame starts the next run (``edge-detsam2 events`` replays each run with fresh state).
    """
    last = -1
    for lineno, line in jsonl_lines(path, "tracks"):
        fr = parse_track_frame(line, f"{path}:{lineno}")
        if fr.frame <= last and not (runs and fr.frame == 0):
            raise InputFormatError(
                f"{path}:{lineno}: frame {fr.frame} is not after frame {last}; tracks must be sorted by frame"
                + ("" if runs else " (several runs appended in one file are read by 'edge-detsam2 events')")
            )
        last = fr.frame
        yield fr


class TracksWriter:
    """Writes one line per frame and flushes, so a crash loses at most one frame."""

    def __init__(self, fh: IO[str]) -> None:
        self._fh = fh

    def write(self, frame: TrackFrame) -> None:
        self._fh.write(frame.to_json() + "\n")
