"""Shared fixtures. The simulated clips are made once per session by the real CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import Clip

from edge_detsam2.cli import main

SIM_ARGS = ["--clips", "2", "--shots", "2", "--width", "640", "--height", "360", "--seed", "11"]


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two clips (a racked break and a scattered layout) plus a YOLO dataset."""
    out = tmp_path_factory.mktemp("sim")
    rc = main(["simulate", str(out), *SIM_ARGS, "--yolo-dataset", str(out / "yolo"), "--yolo-every", "15"])
    assert rc == 0
    return out


@pytest.fixture(scope="session")
def clips(sim_dir: Path) -> list[Clip]:
    return [Clip(sim_dir, "clip_000"), Clip(sim_dir, "clip_001")]
