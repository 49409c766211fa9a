"""Bad files and paths at the CLI boundary: one line naming the path, exit 2 or 1, never a traceback."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from edge_detsam2.cli import main

NOT_UTF8 = b"table:\n  id: t\xff\xfe1\n"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err.strip()


def test_non_utf8_config_calibration_and_tracks_name_the_file(
    tmp_path: Path, sim_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(NOT_UTF8)
    rc, err = run(capsys, "check-config", "--config", str(bad))
    assert rc == 2 and str(bad) in err and "UTF-8" in err and len(err.splitlines()) == 1
    tracks = sim_dir / "clip_000.tracks.jsonl"
    rc, err = run(capsys, "events", "--tracks", str(tracks), "--table", str(bad))
    assert rc == 2 and str(bad) in err and "UTF-8" in err
    bad_tracks = tmp_path / "bad.tracks.jsonl"
    bad_tracks.write_bytes(tracks.read_bytes().splitlines(keepends=True)[0] + b'{"frame": 1, "t": \xff}\n')
    rc, err = run(capsys, "events", "--tracks", str(bad_tracks), "--table", str(sim_dir / "clip_000.table.yaml"))
    assert rc == 2 and f"{bad_tracks}:2" in err and "UTF-8" in err


def test_paths_of_the_wrong_kind_exit_2(tmp_path: Path, sim_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table, tracks = sim_dir / "clip_000.table.yaml", sim_dir / "clip_000.tracks.jsonl"
    rc, err = run(capsys, "events", "--tracks", str(tracks), "--table", str(table), "--out", str(tmp_path))
    assert rc == 2 and str(tmp_path) in err
    a_file = tmp_path / "file"
    a_file.write_text("x")
    rc, err = run(capsys, "simulate", str(a_file), "--no-video")
    assert rc == 2 and str(a_file) in err


def test_directory_as_events_out_of_run_exits_2(tmp_path: Path, sim_dir: Path) -> None:
    from daemon_helpers import daemon_cmd, write_config

    cfg = write_config(tmp_path / "cfg.yaml", sim_dir)
    done = subprocess.run(daemon_cmd(cfg, "--events-out", str(tmp_path)), capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert str(tmp_path) in done.stderr.strip().splitlines()[-1] and "Traceback" not in done.stderr


def test_tracks_replay_hitting_a_bad_line_never_aborts(tmp_path: Path, sim_dir: Path) -> None:
    """The daemon's reader thread is stopped before the interpreter exits: exit 2, never SIGABRT (134)."""
    from daemon_helpers import daemon_cmd, write_config

    lines = (sim_dir / "clip_000.tracks.jsonl").read_text().splitlines(keepends=True)
    bad = tmp_path / "bad.tracks.jsonl"
    bad.write_text("".join(lines[:20]) + "{not json\n" + "".join(lines[20:]))
    cfg = write_config(tmp_path / "cfg.yaml", sim_dir, perception={"backend": "tracks", "tracks_file": str(bad)})
    codes = set()
    for _ in range(50):  # the abort was rare: about 1 run in 10 before the fix
        done = subprocess.run(daemon_cmd(cfg), capture_output=True, text=True, timeout=120)
        codes.add(done.returncode)
        assert "Traceback" not in done.stderr
    assert codes == {2}, codes
