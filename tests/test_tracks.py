from __future__ import annotations

from pathlib import Path

import pytest

from edge_detsam2.errors import InputFormatError
from edge_detsam2.tracks import TrackedObject, TrackFrame, read_tracks


def test_round_trip(tmp_path: Path) -> None:
    frames = [
        TrackFrame(0, 0.0, (TrackedObject("7", "ball_3", 640.2, 360.9, 15.8, (624, 345, 656, 377), 0.97),)),
        TrackFrame(1, 0.0333, (TrackedObject("0", "cue_ball", 10.0, 20.0),)),
        TrackFrame(2, 0.0667, ()),
    ]
    p = tmp_path / "t.jsonl"
    p.write_text("".join(f.to_json() + "\n" for f in frames))
    back = list(read_tracks(p))
    assert back == frames


def test_integer_ids_and_optional_fields(tmp_path: Path) -> None:
    p = tmp_path / "t.jsonl"
    p.write_text('{"frame": 0, "t": 0, "objects": [{"id": 3, "label": "ball_3", "cx": 1, "cy": 2}]}\n')
    (fr,) = read_tracks(p)
    assert fr.objects[0].id == "3" and fr.objects[0].r is None


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ('{"t": 0, "objects": []}', "'frame'"),
        ('{"frame": 0, "objects": []}', "'t'"),
        ('{"frame": 0, "t": 0, "objects": [{"id": 1, "label": "x", "cy": 2}]}', "'cx'"),
        ('{"frame": 0, "t": 0, "objects": [{"id": 1, "label": "", "cx": 1, "cy": 2}]}', "'label'"),
        ('{"frame": 0, "t": 0, "objects": [{"id": 1, "label": "x", "cx": "a", "cy": 2}]}', "'cx'"),
        ('{"frame": -1, "t": 0}', "'frame'"),
        ("not json", "invalid JSON"),
    ],
)
def test_bad_lines_name_line_and_field(tmp_path: Path, line: str, needle: str) -> None:
    p = tmp_path / "t.jsonl"
    p.write_text(line + "\n")
    with pytest.raises(InputFormatError, match=needle) as info:
        list(read_tracks(p))
    assert "t.jsonl:1" in str(info.value)


def test_frames_must_increase(tmp_path: Path) -> None:
    p = tmp_path / "t.jsonl"
    p.write_text('{"frame": 1, "t": 0.1}\n{"frame": 1, "t": 0.1}\n')
    with pytest.raises(InputFormatError, match="t.jsonl:2: frame 1 is not after frame 1"):
        list(read_tracks(p))
