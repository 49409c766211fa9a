"""Training commands on simulated data: they run, learn, and write loadable, described models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_detsam2.cli import main  # noqa: E402
from edge_detsam2.detector.yolo import YoloDetector  # noqa: E402
from edge_detsam2.tracker.model import ModelSpec, build_model, small_overrides  # noqa: E402
from edge_detsam2.training.sam2 import Sam2Trainer, evaluate, load_clip  # noqa: E402

CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"


def test_train_detector_writes_weights_and_recipe(sim_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "det.pt"
    args = ["train", "detector", "--data", str(sim_dir / "yolo" / "data.yaml"), "--out", str(out)]
    assert main([*args, "--epochs", "1", "--imgsz", "160", "--batch", "4", "--workers", "0"]) == 0
    recipe = json.loads(out.with_suffix(".json").read_text())
    assert recipe["epochs"] == 1 and recipe["seed"] == 0 and 0.0 <= recipe["val"]["mAP50"] <= 1.0
    det = YoloDetector(out, imgsz=160)
    assert det.names[0] == "cue_ball" and det.names[16] == "pocket"


def test_train_detector_bad_data_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["train", "detector", "--data", str(tmp_path / "none.yaml"), "--out", str(tmp_path / "x.pt")])
    assert rc == 2 and "--yolo-dataset" in capsys.readouterr().err


def test_sam2_training_reduces_the_loss(sim_dir: Path) -> None:
    torch.manual_seed(0)
    model = build_model(ModelSpec(CONFIG, None, small_overrides(128)))
    clip = load_clip(sim_dir, "clip_000", 128, max_frames=60)
    assert clip.frames.shape == (60, 128, 128, 3) and clip.masks[0]
    trainer = Sam2Trainer(model, [clip], frames_per_sample=3, objects_per_sample=2, lr=1e-3, seed=0)
    losses = [trainer.step()["total"] for _ in range(40)]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-10:]) < 0.8 * np.mean(losses[:10]), losses
    result = evaluate(model, clip, frames=5, objects=2)
    assert len(result["iou_per_frame"]) == 5 and 0.0 <= result["mean_iou"] <= 1.0


def test_train_sam2_command_writes_a_checkpoint_the_tracker_loads(sim_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sam2.pt"
    args = ["train", "sam2", "--clips", str(sim_dir), "--out", str(out), "--image-size", "128", "--size", "small"]
    assert main([*args, "--iterations", "3", "--frames", "2", "--objects", "1"]) == 0
    recipe = json.loads(out.with_suffix(".json").read_text())
    assert recipe["iterations"] == 3 and recipe["overrides"] == list(small_overrides(128))
    build_model(ModelSpec(CONFIG, out, small_overrides(128)))  # strict key match through the real loader
