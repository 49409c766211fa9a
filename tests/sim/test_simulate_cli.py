"""``edge-detsam2 simulate`` as a user calls it: determinism and argument errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from edge_detsam2.cli import main

TINY = [
    "--clips",
    "1",
    "--shots",
    "1",
    "--width",
    "320",
    "--height",
    "180",
    "--fps",
    "20",
    "--layout",
    "scatter",
]


def _files(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    assert main(["simulate", str(tmp_path / "a"), *TINY, "--seed", "5"]) == 0
    # Another process with another hash seed: set and dict orders must not leak into outputs.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    cmd = [sys.executable, "-m", "edge_detsam2", "simulate", str(tmp_path / "b"), *TINY, "--seed", "5"]
    assert subprocess.run(cmd, env=env, capture_output=True, check=False).returncode == 0
    assert main(["simulate", str(tmp_path / "c"), *TINY, "--seed", "6"]) == 0
    a, b, c = (_files(tmp_path / x) for x in "abc")
    assert set(a) == {
        "clip_000.mp4",
        "clip_000.events.jsonl",
        "clip_000.tracks.jsonl",
        "clip_000.table.yaml",
        "clip_000.masks.jsonl",
        "manifest.json",
    }
    assert a == b
    assert a["clip_000.events.jsonl"] != c["clip_000.events.jsonl"]
    assert a["clip_000.mp4"] != c["clip_000.mp4"]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--clips", "0"], "--clips"),
        (["--width", "641"], "--width"),
        (["--width", "320", "--height", "640"], "--height"),
        (["--fps", "0"], "--fps"),
        (["--ball-set", "snooker"], "--ball-set"),
        (["--table-size", "6ft"], "--table-size"),
        (["--layout", "diamond"], "--layout"),
        (["--shots", "100"], "--shots"),
    ],
)
def test_bad_arguments_exit_2_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], needle: str
) -> None:
    assert main(["simulate", str(tmp_path / "o"), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and "error" in err
    assert not (tmp_path / "o").exists()


def test_console_script_runs(tmp_path: Path) -> None:
    """The installed entry point works (usage error -> exit 2, --help -> 0)."""
    exe = Path(sys.executable).with_name("edge-detsam2")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "edge_detsam2"]
    ok = subprocess.run([*cmd, "simulate", "--help"], capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and "--yolo-dataset" in ok.stdout
    bad = subprocess.run([*cmd, "simulate"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "outdir" in bad.stderr
