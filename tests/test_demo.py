"""The bundled models and the demo: what a fresh machine's first run shows."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("torch")

from edge_detsam2.config import MODELS_DIR, AppConfig


def test_bundled_models_are_the_defaults_and_load() -> None:
    cfg = AppConfig()
    det, sam = cfg.perception.detector, cfg.perception.sam2
    assert det.weights is not None and det.weights.parent == MODELS_DIR and det.weights.suffix == ".onnx"
    assert sam.checkpoint is not None and sam.checkpoint.parent == MODELS_DIR
    assert det.identity is not None and det.identity.parent == MODELS_DIR
    for model in (det.weights, det.identity, sam.checkpoint):
        assert model.is_file() and model.stat().st_size < 25 * 2**20
        recipe = json.loads(model.with_suffix(".json").read_text())  # how it was trained
        assert "edge-detsam2 train" in recipe["command"] and "seed" in recipe
    from edge_detsam2.detector.identity import IdentityClassifier
    from edge_detsam2.detector.yolo import YoloDetector
    from edge_detsam2.sim.yolo_dataset import IDENTITY_NAMES
    from edge_detsam2.tracker.model import ModelSpec, build_model

    assert YoloDetector(det.weights).names == {0: "ball", 1: "pocket"}
    assert IdentityClassifier(det.identity).names == IDENTITY_NAMES
    build_model(ModelSpec(sam.config, sam.checkpoint, tuple(sam.overrides)))  # strict key match


def test_demo_runs_the_whole_appliance(tmp_path: Path) -> None:
    """The demo with --scoreboard: the web scoreboard on the demo's broker shows what was published."""
    from edge_detsam2.daemon.broker import free_port

    out = tmp_path / "demo"
    bind = f"127.0.0.1:{free_port()}"
    cmd = [sys.executable, "-m", "edge_detsam2", "demo", "--out", str(out), "--max-frames", "45", "--quiet"]
    proc = subprocess.Popen(
        [*cmd, "--scoreboard", "--scoreboard-bind", bind], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:  # the demo keeps serving the scoreboard after its run, until a signal
        lines.append(line)
        if line.startswith("scoreboard still serving"):
            break
    stdout = "".join(lines)
    assert f"web scoreboard: open http://{bind}/" in stdout, stdout
    with urllib.request.urlopen(f"http://{bind}/api/snapshot", timeout=10) as r:
        snapshot = json.load(r)
    proc.send_signal(signal.SIGTERM)
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, stdout + rest
    assert "[5/5] scorecard" in stdout and "availability offline -> online -> stopped" in stdout
    published = [json.loads(line)["id"] for line in (out / "events.jsonl").read_text().splitlines()]
    table = snapshot["tables"]["demo-table"]
    assert [e["id"] for e in table["events"]] == published and table["available"] == "stopped"
    assert snapshot["default_table"] == "demo-table" and table["state"]["table"]["length_m"] > 1.5
    tracks = (out / "tracks.jsonl").read_text().splitlines()
    assert len(tracks) == 45
    assert sum(len(json.loads(t)["objects"]) for t in tracks) > 0  # the bundled models found balls
    assert (out / "annotated.mp4").stat().st_size > 0 and (out / "scorecard.json").is_file()


def test_built_in_defaults_are_the_shipped_config() -> None:
    """One owner for settings: run, the demo and the benchmarks get the same values."""
    from edge_detsam2.config import load_config

    shipped = load_config(Path(__file__).resolve().parents[1] / "configs" / "default.yaml")
    built_in = AppConfig()
    for section in ("perception", "events", "source", "mqtt", "outputs", "daemon", "export", "scoreboard"):
        assert getattr(shipped, section).model_dump() == getattr(built_in, section).model_dump(), section


@pytest.mark.slow
def test_run_with_the_shipped_config_finds_the_clips_shot(tmp_path: Path) -> None:
    """`run --config configs/default.yaml` on a simulated clip publishes the clip's shot."""
    import cv2
    from daemon_helpers import Broker

    from edge_detsam2.cli import main
    from edge_detsam2.evaluation.matching import score_events
    from edge_detsam2.events.types import EventType, read_events_jsonl

    clip = tmp_path / "clip"
    sim = ["simulate", str(clip), "--clips", "1", "--shots", "1", "--width", "640", "--height", "360"]
    assert main([*sim, "--seed", "5", "--layout", "scatter", "--ball-set", "nineball"]) == 0
    # The first 2 s hold the strike (at 1 s); a shorter video keeps the test to a minute or two.
    cap, video = cv2.VideoCapture(str(clip / "clip_000.mp4")), clip / "first_2s.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 360))  # type: ignore[attr-defined]
    for _ in range(60):
        writer.write(cap.read()[1])
    writer.release()
    cap.release()
    broker = Broker(tmp_path / "mq")
    broker.start()
    try:
        text = (Path(__file__).resolve().parents[1] / "configs" / "default.yaml").read_text()
        config = tmp_path / "default.yaml"
        config.write_text(text.replace("port: 1883", f"port: {broker.port}"))
        out = tmp_path / "events.jsonl"
        cmd = [sys.executable, "-m", "edge_detsam2", "run", "--config", str(config), "--source"]
        cmd += [str(video), "--table", str(clip / "clip_000.table.yaml"), "--events-out", str(out)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path)
    finally:
        broker.kill()
    assert done.returncode == 0, done.stdout + done.stderr
    pred = read_events_jsonl(str(out))
    truth = [e for e in read_events_jsonl(str(clip / "clip_000.events.jsonl")) if e.t_s < 1.7]
    score = score_events(pred, truth)
    shots = score.by_type[EventType.SHOT]
    assert shots.tp == sum(1 for e in truth if e.type is EventType.SHOT) >= 1, score.to_dict()
