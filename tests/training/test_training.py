"""Training commands on simulated data: they run, learn, and write loadable, described models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_detsam2.cli import main  # noqa: E402
from edge_detsam2.config import BUNDLED_DETECTOR, MODELS_DIR  # noqa: E402
from edge_detsam2.detector.yolo import YoloDetector  # noqa: E402
from edge_detsam2.tracker.model import ModelSpec, build_model, small_overrides  # noqa: E402
from edge_detsam2.training.sam2 import (  # noqa: E402
    Curriculum,
    CurriculumTrainer,
    boxes_of,
    ellipses,
    evaluate_tracking,
    load_clip,
    load_clips,
    zero_init_memory_attention,
)

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


def test_sam2_image_stage_reduces_the_loss_and_tracking_runs(sim_dir: Path) -> None:
    torch.manual_seed(0)
    model = build_model(ModelSpec(CONFIG, None, small_overrides(128)))
    clip = load_clip(sim_dir, "clip_000", 128, max_frames=60)
    assert clip.frames.shape == (60, 128, 128, 3) and clip.labels.shape == (60, 128, 128)
    assert "pocket" not in clip.names and clip.areas[0].max() > 0
    plan = Curriculum(images_per_step=2, prompts_per_image=3, windows_per_step=2, objects_per_window=2, mix_images=1)
    trainer = CurriculumTrainer(model, [clip], plan)
    opt = trainer.optimizer(1e-3, 1.0)
    losses = [trainer.run_step(opt, 1e-3, lambda: trainer.image_loss(2))["loss"] for _ in range(30)]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-8:]) < 0.7 * np.mean(losses[:8]), losses
    zero_init_memory_attention(model)
    logs = trainer.run_step(opt, 3e-4, lambda: trainer.track_loss(2, 3))
    assert np.isfinite(logs["loss"]) and 0.0 <= logs["track_IoU"] <= 1.0
    ev = evaluate_tracking(model, [clip], frames=4, objects=2, starts=1)
    assert len(ev.per_frame) == 4 and all(0.0 <= v <= 1.0 for v in ev.per_frame)
    assert ev.per_frame[0] == ev.copy_baseline[0]  # frame 0 is the prompt itself, as at inference


def test_ellipse_of_a_ball_box_is_nearly_its_mask(sim_dir: Path) -> None:
    clip = load_clip(sim_dir, "clip_000", 256, max_frames=1)
    masks = torch.stack([torch.from_numpy(clip.labels[0] == i + 1) for i in range(len(clip.names))])
    masks = masks[masks.flatten(1).sum(1) > 40]
    boxes = boxes_of(masks)
    ys, xs = torch.nonzero(masks[0], as_tuple=True)
    assert boxes[0].tolist() == [xs.min().item(), ys.min().item(), xs.max().item() + 1, ys.max().item() + 1]
    ell = ellipses(boxes, 256)[:, 0] > 0
    iou = (ell & masks).flatten(1).sum(1) / (ell | masks).flatten(1).sum(1)
    assert float(iou.median()) > 0.8


def test_sam2_pack_round_trip(sim_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("imageio_ffmpeg")
    assert main(["train", "sam2-pack", "--clips", str(sim_dir), "--out", str(tmp_path), "--image-size", "128"]) == 0
    packed = load_clips(tmp_path, 128)
    direct = load_clip(sim_dir, packed[0].name, 128)
    assert np.array_equal(packed[0].labels, direct.labels) and packed[0].names == direct.names
    assert np.abs(packed[0].frames.astype(int) - direct.frames).mean() < 4  # H.264 crf 18, 4:4:4


def test_train_sam2_command_writes_a_checkpoint_the_tracker_loads_and_resumes(sim_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sam2.pt"
    args = ["train", "sam2", "--clips", str(sim_dir), "--out", str(out), "--image-size", "128", "--size", "small"]
    args += ["--images", "1", "--prompts", "2", "--windows", "1", "--objects", "1", "--frames", "2"]
    assert main([*args, "--image-seconds", "2", "--track-seconds", "2"]) == 0
    recipe = json.loads(out.with_suffix(".json").read_text())
    overrides = [*small_overrides(128), "++model.num_maskmem=4"]
    assert recipe["overrides"] == overrides and set(recipe["sittings"][0]) == {"image", "track"}
    assert any(h["stage"] == "track" for h in recipe["history"])
    build_model(ModelSpec(CONFIG, out, tuple(overrides)))  # strict key match through the real loader
    assert main([*args, "--track-seconds", "2", "--resume"]) == 0
    recipe = json.loads(out.with_suffix(".json").read_text())
    assert len(recipe["sittings"]) == 2 and set(recipe["sittings"][1]) == {"track"}


def test_train_sam2_resume_without_a_checkpoint_is_a_usage_error(sim_dir: Path, tmp_path: Path) -> None:
    rc = main(["train", "sam2", "--clips", str(sim_dir), "--out", str(tmp_path / "none.pt"), "--resume"])
    assert rc == 2


def test_detector_from_onnx_computes_what_the_onnx_file_does(sim_dir: Path, tmp_path: Path) -> None:
    """Fine-tuning starts from the shipped ONNX: fused kernels back, batch norms measured on frames."""
    import cv2
    import onnxruntime as ort
    from ultralytics.nn.tasks import load_checkpoint

    from edge_detsam2.errors import ConfigError
    from edge_detsam2.training.detector import checkpoint_from_onnx

    onnx_path = MODELS_DIR / BUNDLED_DETECTOR
    images = sorted((sim_dir / "yolo" / "images" / "train").glob("*.jpg"))[:4]
    ckpt = checkpoint_from_onnx(onnx_path, {0: "ball", 1: "pocket"}, images, tmp_path)
    model, _ = load_checkpoint(str(ckpt))
    frame = cv2.resize(cv2.imread(str(images[-1])), (640, 384))
    x = np.ascontiguousarray(frame[:, :, ::-1].transpose(2, 0, 1))[None].astype(np.float32) / 255.0
    ref = ort.InferenceSession(str(onnx_path)).run(None, {"images": x})[0]
    with torch.no_grad():
        out = model.eval()(torch.from_numpy(x))[0].numpy()
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 1e-3 * np.abs(ref).max()
    assert ref[0, 4].max() > 0.5  # the frame has balls the shipped detector sees
    with pytest.raises(ConfigError, match="classes of --data"):
        checkpoint_from_onnx(onnx_path, {i: f"c{i}" for i in range(17)}, images, tmp_path)
