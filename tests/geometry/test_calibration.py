from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_detsam2.errors import ConfigError
from edge_detsam2.geometry import TableCalibration, load_calibration

GOOD = """\
table_id: t1
length_m: 2.54
width_m: 1.27
corners_px:
  - [100, 80]
  - [1180, 95]
  - [1160, 650]
  - [120, 630]
"""


def write(tmp_path: Path, text: str, name: str = "table.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_loads_and_defaults_six_pockets(tmp_path: Path) -> None:
    cal = load_calibration(write(tmp_path, GOOD))
    pockets = cal.resolved_pockets()
    assert [p.id for p in pockets] == [
        "top_left",
        "top_right",
        "bottom_right",
        "bottom_left",
        "top_middle",
        "bottom_middle",
    ]
    # Default pockets sit just outside the playing surface, at the corners and middles.
    tl = cal.homography.to_table(np.array(pockets[0].px))
    tm = cal.homography.to_table(np.array(pockets[4].px))
    assert tl[0] < 0 and tl[1] < 0
    assert tm[0] == pytest.approx(1.27) and tm[1] < 0


def test_json_is_accepted(tmp_path: Path) -> None:
    p = write(
        tmp_path,
        '{"length_m": 2.54, "width_m": 1.27, "corners_px": [[100, 80], [1180, 95], [1160, 650], [120, 630]]}',
        "t.json",
    )
    assert load_calibration(p).length_m == 2.54


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        (
            GOOD.replace(
                "  - [1180, 95]\n  - [1160, 650]\n  - [120, 630]\n",
                "  - [120, 630]\n  - [1160, 650]\n  - [1180, 95]\n",
            ),
            "clockwise",
        ),
        (
            GOOD.replace(
                "  - [100, 80]\n  - [1180, 95]\n  - [1160, 650]\n  - [120, 630]\n",
                "  - [1180, 95]\n  - [1160, 650]\n  - [120, 630]\n  - [100, 80]\n",
            ),
            "long side",
        ),
        (GOOD.replace("width_m: 1.27", "width_m: 3.0"), "width_m"),
        (GOOD + "colour: green\n", "colour"),
        (GOOD.replace("  - [120, 630]\n", ""), "corners_px"),
        (GOOD.replace("length_m: 2.54", "length_m: two"), "length_m"),
    ],
)
def test_bad_files_name_the_field(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle) as info:
        load_calibration(write(tmp_path, text))
    assert "table.yaml" in str(info.value)


def test_error_carries_the_yaml_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_calibration(write(tmp_path, GOOD.replace("length_m: 2.54", "length_m: -1")))
    assert "table.yaml:2: length_m" in str(info.value)


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_calibration(tmp_path / "nope.yaml")


def test_duplicate_pocket_ids_rejected() -> None:
    with pytest.raises(ValueError, match="unique"):
        TableCalibration(
            corners_px=((100, 80), (1180, 95), (1160, 650), (120, 630)),
            pockets=({"id": "a", "px": (0, 0)}, {"id": "a", "px": (5, 5)}),  # type: ignore[arg-type]
        )
