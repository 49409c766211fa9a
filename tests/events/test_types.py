from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_detsam2.errors import InputFormatError
from edge_detsam2.events.types import Event, EventType, ShotSummary, read_events_jsonl, utc_iso


def test_public_json_shape_and_round_trip() -> None:
    ev = Event(
        type=EventType.REBOUND,
        t_s=12.367,
        frame=371,
        balls=("ball_3",),
        table="table-1",
        id="01J",
        seq=42,
        ts=utc_iso(0.123),
        position_m=(1.12, 0.40),
        speed_mps=1.8,
        confidence=0.93,
        cushion="top",
    )
    d = json.loads(ev.to_json())
    assert d == {
        "id": "01J",
        "seq": 42,
        "type": "rebound",
        "table": "table-1",
        "t": 12.367,
        "frame": 371,
        "ts": "1970-01-01T00:00:00.123Z",
        "balls": ["ball_3"],
        "position_m": [1.12, 0.4],
        "speed_mps": 1.8,
        "confidence": 0.93,
        "cushion": "top",
    }
    assert Event.from_dict(d) == ev


def test_shot_end_summary_round_trip() -> None:
    summary = ShotSummary("ball_1", ("ball_3", "cue_ball"), 2, True, 4.5)
    ev = Event(type=EventType.SHOT_END, t_s=5.0, frame=150, balls=(), summary=summary)
    back = Event.from_dict(json.loads(ev.to_json()))
    assert back.summary == summary


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"type": EventType.POT, "t_s": 1.0, "frame": 1, "balls": ("ball_1",)}, "pocket"),
        ({"type": EventType.REBOUND, "t_s": 1.0, "frame": 1, "balls": ("ball_1",)}, "cushion"),
        ({"type": EventType.SHOT_END, "t_s": 1.0, "frame": 1, "balls": ()}, "summary"),
        ({"type": EventType.SHOT, "t_s": -1.0, "frame": 1, "balls": ()}, "t_s"),
    ],
)
def test_invalid_events_are_rejected(kwargs: dict[str, object], needle: str) -> None:
    with pytest.raises(ValueError, match=needle):
        Event(**kwargs)  # type: ignore[arg-type]


def test_reader_names_line_and_field(tmp_path: Path) -> None:
    p = tmp_path / "e.jsonl"
    p.write_text('{"type": "shot", "t": 1, "frame": 30, "balls": ["cue_ball"]}\n{"type": "foul", "t": 1}\n')
    with pytest.raises(InputFormatError, match=r"e.jsonl:2: .*'type' is 'foul'; use one of shot"):
        read_events_jsonl(str(p))
