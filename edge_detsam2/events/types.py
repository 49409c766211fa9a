"""The event currency: one frozen dataclass serialised one way for JSONL and MQTT.

The JSON form is a public contract (INTERFACES.md, "Event JSON"); ``to_dict`` and
``from_dict`` are the only places that know it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from edge_detsam2.errors import InputFormatError
from edge_detsam2.jsonl import jsonl_lines

CUSHIONS = ("top", "bottom", "left", "right")


class EventType(StrEnum):
    """Event types of the public format."""

    SHOT = "shot"
    COLLISION = "collision"
    REBOUND = "rebound"
    POT = "pot"
    SHOT_END = "shot_end"


@dataclass(frozen=True)
class ShotSummary:
    """What happened between a shot and the table coming to rest."""

    first_contact: str | None
    potted: tuple[str, ...]
    cushions: int
    scratch: bool
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "first_contact": self.first_contact,
            "potted": list(self.potted),
            "cushions": self.cushions,
            "scratch": self.scratch,
            "duration_s": round(self.duration_s, 4),
        }


@dataclass(frozen=True)
class Event:
    """One billiards event. ``t_s`` is stream time on the source clock (seconds)."""

    type: EventType
    t_s: float
    frame: int
    balls: tuple[str, ...]
    table: str = "table-1"
    id: str = ""
    seq: int = 0
    ts: str = ""
    position_m: tuple[float, float] | None = None
    speed_mps: float | None = None
    confidence: float = 1.0
    cushion: str | None = None
    pocket: str | None = None
    summary: ShotSummary | None = field(default=None)

    def __post_init__(self) -> None:
        if not math.isfinite(self.t_s) or self.t_s < 0:
            raise ValueError(f"event t_s must be a finite time >= 0, got {self.t_s}")
        if self.frame < 0:
            raise ValueError(f"event frame must be >= 0, got {self.frame}")
        if self.type is EventType.REBOUND and not self.cushion:
            raise ValueError("a rebound event needs a cushion")
        if self.type is EventType.POT and not self.pocket:
            raise ValueError("a pot event needs a pocket")
        if self.type is EventType.SHOT_END and self.summary is None:
            raise ValueError("a shot_end event needs a summary")

    def to_dict(self) -> dict[str, Any]:
        """The public JSON object (INTERFACES.md)."""
        out: dict[str, Any] = {
            "id": self.id,
            "seq": self.seq,
            "type": self.type.value,
            "table": self.table,
            "t": round(self.t_s, 4),
            "frame": self.frame,
            "ts": self.ts,
            "balls": list(self.balls),
        }
        if self.position_m is not None:
            out["position_m"] = [round(self.position_m[0], 4), round(self.position_m[1], 4)]
        if self.speed_mps is not None:
            out["speed_mps"] = round(self.speed_mps, 3)
        out["confidence"] = round(self.confidence, 3)
        if self.cushion is not None:
            out["cushion"] = self.cushion
        if self.pocket is not None:
            out["pocket"] = self.pocket
        if self.summary is not None:
            out["summary"] = self.summary.to_dict()
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Parse the public JSON object; raise InputFormatError naming the bad field."""
        try:
            etype = EventType(data["type"])
        except KeyError:
            raise InputFormatError("event: missing field 'type'") from None
        except ValueError:
            allowed = ", ".join(e.value for e in EventType)
            raise InputFormatError(f"event: 'type' is {data['type']!r}; use one of {allowed}") from None
        for key in ("t", "frame", "balls"):
            if key not in data:
                raise InputFormatError(f"event: missing field {key!r}")
        summary = None
        if data.get("summary") is not None:
            s = data["summary"]
            summary = ShotSummary(
                first_contact=s.get("first_contact"),
                potted=tuple(s.get("potted", ())),
                cushions=int(s.get("cushions", 0)),
                scratch=bool(s.get("scratch", False)),
                duration_s=float(s.get("duration_s", 0.0)),
            )
        pos = data.get("position_m")
        try:
            return cls(
                type=etype,
                t_s=float(data["t"]),
                frame=int(data["frame"]),
                balls=tuple(str(b) for b in _as_sequence(data["balls"], "balls")),
                table=str(data.get("table", "table-1")),
                id=str(data.get("id", "")),
                seq=int(data.get("seq", 0)),
                ts=str(data.get("ts", "")),
                position_m=(float(pos[0]), float(pos[1])) if pos is not None else None,
                speed_mps=float(data["speed_mps"]) if data.get("speed_mps") is not None else None,
                confidence=float(data.get("confidence", 1.0)),
                cushion=data.get("cushion"),
                pocket=data.get("pocket"),
                summary=summary,
            )
        except (TypeError, ValueError) as exc:
            raise InputFormatError(f"event: {exc}") from None


def _as_sequence(value: Any, name: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise InputFormatError(f"event: {name!r} must be a list, got {type(value).__name__}")
    return value


def utc_iso(epoch_s: float) -> str:
    """UTC wall-clock time as ISO 8601 with milliseconds and a Z suffix."""
    dt = datetime.fromtimestamp(epoch_s, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def read_events_jsonl(path: str) -> list[Event]:
    """Read an events JSONL file; errors name the line."""
    events: list[Event] = []
    for lineno, line in jsonl_lines(path, "events"):
        try:
            events.append(Event.from_dict(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise InputFormatError(f"{path}:{lineno}: invalid JSON ({exc.msg})") from None
        except InputFormatError as exc:
            raise InputFormatError(f"{path}:{lineno}: {exc}") from None
    return events
