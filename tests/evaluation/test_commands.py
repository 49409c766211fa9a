"""events / eval / tune as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_detsam2.cli import main
from edge_detsam2.evaluation.matching import score_events
from edge_detsam2.events.types import EventType, read_events_jsonl


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("clips")
    assert main(["simulate", str(d), "--no-video", "--clips", "2", "--shots", "2", "--seed", "31"]) == 0
    return d


def test_events_command_replays_tracks(clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "pred.jsonl"
    args = ["events", "--tracks", str(clips / "clip_000.tracks.jsonl"), "--table", str(clips / "clip_000.table.yaml")]
    assert main([*args, "--out", str(out)]) == 0
    pred = read_events_jsonl(str(out))
    truth = read_events_jsonl(str(clips / "clip_000.events.jsonl"))
    assert pred and [e.seq for e in pred] == list(range(1, len(pred) + 1))
    assert len({e.id for e in pred}) == len(pred)
    assert all(e.table == "clip_000" for e in pred)
    assert score_events(pred, truth).by_type[EventType.SHOT].f1 == 1.0
    # --fps derives t from frame numbers; same clip, same events.
    out2 = tmp_path / "pred2.jsonl"
    assert main([*args, "--out", str(out2), "--fps", "30"]) == 0
    assert [(e.type, e.balls) for e in read_events_jsonl(str(out2))] == [(e.type, e.balls) for e in pred]


def test_eval_pair_and_clips(clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    truth = clips / "clip_001.events.jsonl"
    assert main(["eval", "--pred", str(truth), "--truth", str(truth), "--json", str(tmp_path / "s.json")]) == 0
    assert json.loads((tmp_path / "s.json").read_text())["macro_f1"] == 1.0
    assert main(["eval", "--clips", str(clips), "--jitter-px", "1.5", "--json", str(tmp_path / "c.json")]) == 0
    report = json.loads((tmp_path / "c.json").read_text())
    assert set(report["clips"]) == {"clip_000", "clip_001"} and 0.5 < report["macro_f1"] <= 1.0
    assert report["perturbation"]["jitter_px"] == 1.5 and "collision" in report["latency_s"]
    assert "macro-F1" in capsys.readouterr().out


def test_tune_writes_results_and_heatmaps(clips: Path, tmp_path: Path) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("impulse_min_mps: [0.1, 0.3]\nalignment: [0.6, 0.9]\nwindow_s: [0.1]\n")
    out, plots = tmp_path / "r.json", tmp_path / "plots"
    assert (
        main(
            [
                "tune",
                "--clips",
                str(clips),
                "--grid",
                str(grid),
                "--out",
                str(out),
                "--plots",
                str(plots),
                "--workers",
                "1",
            ]
        )
        == 0
    )
    results = json.loads(out.read_text())
    assert len(results) == 4
    assert results[0]["macro_f1"] == max(r["macro_f1"] for r in results)
    assert {tuple(sorted(r["params"])) for r in results} == {("alignment", "impulse_min_mps", "window_s")}
    pngs = list(plots.glob("*.png"))
    assert [p.name for p in pngs] == ["f1_heatmap_impulse_min_mps__alignment.png"]
    assert pngs[0].read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["eval"], "either --pred"),
        (["eval", "--pred", "a.jsonl"], "either --pred"),
        (["eval", "--clips", "/nonexistent"], "not a directory"),
        (["eval", "--clips", ".", "--miss-rate", "1.5"], "--miss-rate"),
        (["events", "--tracks", "/nonexistent.jsonl", "--table", "t.yaml"], "--tracks"),
        (["events", "--tracks", "x", "--table", "t", "--fps", "0"], "--fps"),
    ],
)
def test_bad_arguments_exit_2(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_bad_grid_is_a_config_error(clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = tmp_path / "grid.yaml"
    grid.write_text("impulse_min: [0.1]\n")
    assert main(["tune", "--clips", str(clips), "--grid", str(grid)]) == 2
    assert "unknown parameter 'impulse_min'" in capsys.readouterr().err
    grid.write_text("alignment: [2.0]\n")
    assert main(["tune", "--clips", str(clips), "--grid", str(grid)]) == 2
    assert "alignment=2.0 is invalid" in capsys.readouterr().err
