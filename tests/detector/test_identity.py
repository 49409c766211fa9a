"""Ball identity from crops: crop geometry, the training command, the ONNX classifier at runtime."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from edge_detsam2.cli import main
from edge_detsam2.detector.identity import (
    CROP_PX,
    IdentifiedDetector,
    IdentityClassifier,
    IdentityError,
    crop_boxes,
)
from edge_detsam2.detector.types import Detections
from edge_detsam2.sim.yolo_dataset import IDENTITY_NAMES


@pytest.fixture(scope="module")
def ball_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A class-agnostic dataset with identity crops, from the real simulate command."""
    out = tmp_path_factory.mktemp("balls")
    args = ["simulate", str(out), "--clips", "2", "--shots", "1", "--width", "640", "--height", "360", "--seed", "21"]
    extra = ["--yolo-dataset", str(out / "yolo"), "--yolo-classes", "ball", "--crops", str(out / "crops")]
    assert main([*args, *extra, "--yolo-every", "20", "--augment"]) == 0
    return out


def test_crop_is_centred_on_the_box_at_full_resolution() -> None:
    img = np.zeros((200, 300, 3), dtype=np.uint8)
    cv2.circle(img, (120, 80), 10, (255, 0, 0), -1)
    crop = crop_boxes(img, np.array([[110.0, 70.0, 130.0, 90.0]]))[0]
    assert crop.shape == (CROP_PX, CROP_PX, 3)
    ys, xs = np.nonzero(crop[..., 0] > 128)
    # the disc fills 1/1.5 of the crop's side and sits in its middle
    assert abs(xs.mean() - (CROP_PX - 1) / 2) < 0.6 and abs(ys.mean() - (CROP_PX - 1) / 2) < 0.6
    assert (xs.max() - xs.min() + 1) == pytest.approx(CROP_PX / 1.5, abs=2)
    # a box at the frame edge still gives a full crop (edges replicated)
    assert crop_boxes(img, np.array([[-5.0, -5.0, 15.0, 15.0]])).shape == (1, CROP_PX, CROP_PX, 3)


def test_ball_dataset_has_two_classes_and_labelled_crops(ball_data: Path) -> None:
    import yaml

    data = yaml.safe_load((ball_data / "yolo" / "data.yaml").read_text())
    assert list(data["names"].values()) == ["ball", "pocket"]
    rows = [
        line.split()
        for p in (ball_data / "yolo" / "labels" / "train").glob("*.txt")
        for line in p.read_text().splitlines()
    ]
    assert {r[0] for r in rows} == {"0", "1"}
    crops = list((ball_data / "crops" / "train").rglob("*.png"))
    assert len(crops) > 50 and {p.parent.name for p in crops} <= set(IDENTITY_NAMES)
    assert "cue_ball" in {p.parent.name for p in crops}


def test_train_identity_writes_an_onnx_model_the_runtime_loads(ball_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "identity.onnx"
    args = ["train", "identity", "--crops", str(ball_data / "crops"), "--out", str(out)]
    assert main([*args, "--epochs", "2", "--batch", "32"]) == 0
    recipe = json.loads(out.with_suffix(".json").read_text())
    assert recipe["names"] == list(IDENTITY_NAMES) and len(recipe["history"]) == 2
    # --resume goes on from the checkpoint: two more epochs, history kept
    assert main([*args, "--epochs", "4", "--batch", "32", "--resume"]) == 0
    history = json.loads(out.with_suffix(".json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    # --init fine-tunes from that checkpoint: at a negligible rate the model still answers as it
    # did; started from scratch the same run answers differently
    tuned, scratch = tmp_path / "tuned.onnx", tmp_path / "scratch.onnx"
    init = ["--init", str(out.with_suffix(".ckpt.safetensors"))]
    tiny = ["--epochs", "1", "--batch", "32", "--lr", "1e-9"]
    assert main(["train", "identity", "--crops", str(ball_data / "crops"), "--out", str(tuned), *tiny, *init]) == 0
    assert main(["train", "identity", "--crops", str(ball_data / "crops"), "--out", str(scratch), *tiny]) == 0
    frame = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    boxes = np.array([[10.0, 10, 26, 26], [300, 200, 316, 216], [100, 50, 120, 70]])
    before = IdentityClassifier(out).probabilities(frame, boxes)
    after_init = IdentityClassifier(tuned).probabilities(frame, boxes)
    after_scratch = IdentityClassifier(scratch).probabilities(frame, boxes)
    assert np.abs(after_init - before).max() < 0.2 * np.abs(after_scratch - before).max()
    clf = IdentityClassifier(out)
    frame = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    probs = clf.probabilities(frame, np.array([[10.0, 10, 26, 26], [300, 200, 316, 216]]))
    assert probs.shape == (2, 16) and np.allclose(probs.sum(axis=1), 1.0)

    class Balls:
        def detect(self, frame_rgb: np.ndarray) -> Detections:
            return Detections(np.array([[10.0, 10, 26, 26], [0, 0, 40, 40]]), np.array([0.9, 0.8]), ("ball", "pocket"))

    dets = IdentifiedDetector(Balls(), clf).detect(frame)
    assert dets.labels[0] in IDENTITY_NAMES and dets.labels[1] == "pocket"
    assert dets.identity is not None and dets.identity[1].sum() == 0 and dets.identity_names == IDENTITY_NAMES


def test_train_identity_reads_crops_of_several_simulate_runs(ball_data: Path, tmp_path: Path) -> None:
    from edge_detsam2.errors import ConfigError
    from edge_detsam2.training.identity import load_crops

    x1, y1 = load_crops(ball_data / "crops", "train")
    x2, y2 = load_crops([ball_data / "crops", ball_data / "crops"], "train")
    assert len(x2) == 2 * len(x1) and sorted(y2.tolist()) == sorted(y1.tolist() * 2)
    empty = tmp_path / "empty"
    (empty / "train").mkdir(parents=True)
    with pytest.raises(ConfigError, match=f"no crops in {empty / 'train'}.*simulate --crops"):
        load_crops([ball_data / "crops", empty], "train")
    mined = tmp_path / "neg"  # identity-negatives found no false box on its validation clips
    (mined / "val" / "not_a_ball").mkdir(parents=True)
    with pytest.raises(ConfigError, match=f"no crops in {mined / 'val'}: .*identity-negatives"):
        load_crops([ball_data / "crops", mined], "val")


def test_identity_model_errors_name_the_file_and_fix(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="train identity"):
        IdentityClassifier(tmp_path / "none.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    with pytest.raises(IdentityError, match="sidecar"):
        IdentityClassifier(tmp_path / "bad.onnx")
    (tmp_path / "bad.json").write_text(json.dumps({"names": list(IDENTITY_NAMES), "crop_px": 32, "crop_scale": 1.5}))
    with pytest.raises(IdentityError, match="cannot be loaded"):
        IdentityClassifier(tmp_path / "bad.onnx")


def test_negatives_are_the_detectors_boxes_on_no_ball(ball_data: Path, tmp_path: Path) -> None:
    """``train identity-negatives`` keeps a detector box only where no ball is (not even a
    hidden one), and splits a folder's clips into train and val."""
    from edge_detsam2.sim.masks import read_masks
    from edge_detsam2.training.identity import mine_negatives

    every = 50
    # the frames mine_negatives will look at, in its order: each clip of the manifest in turn
    clips = [c["clip"] for c in json.loads((ball_data / "manifest.json").read_text())["clips"]]
    seen = [masks for c in clips for i, _, masks in read_masks(ball_data / f"{c}.masks.jsonl") if i % every == 0]
    far = [2.0, 2.0, 14.0, 14.0]  # the frame's corner, off the cloth: no ball there

    class Boxes:
        calls = 0

        def detect(self, frame_rgb: np.ndarray) -> Detections:
            m = seen[self.calls][0]
            self.calls += 1
            on_ball = [m.x, m.y, m.x + m.box.shape[1], m.y + m.box.shape[0]]
            beside = [on_ball[0] + 2, on_ball[1] + 1, on_ball[2] + 2, on_ball[3] + 1]  # a pixel or two off
            boxes = np.array([on_ball, beside, far, [20.0, 20, 30, 30]], dtype=np.float64)
            return Detections(boxes, np.full(4, 0.9), ("ball", "ball", "ball", "pocket"))

    out = tmp_path / "neg"
    counts = mine_negatives([ball_data], out, Boxes(), every=every)
    crops = sorted(out.rglob("*.png"))
    assert counts["frames"] == len(seen) >= 4 and counts["boxes"] == 3 * counts["frames"]
    assert counts["train"] + counts["val"] == len(crops) == counts["frames"]  # the corner box only, every frame
    assert {p.parent.name for p in crops} == {"not_a_ball"}
    assert {p.parent.parent.name for p in crops} == {"train", "val"}  # clip_001 is the validation clip
    assert all(p.name.split("_")[-1] == "2.png" for p in crops)

    # the real command, with the bundled detector, writes a folder 'train identity' reads
    assert (
        main(
            ["train", "identity-negatives", "--clips", str(ball_data), "--out", str(tmp_path / "real"), "--every", "25"]
        )
        == 0
    )
    assert (tmp_path / "real" / "train" / "not_a_ball").is_dir() and (tmp_path / "real" / "val" / "not_a_ball").is_dir()


def test_a_classifier_with_the_not_a_ball_class_drops_boxes_it_rejects(
    ball_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Crops of no ball add a 17th class; at runtime its probability drops a detector box (the
    cue's tip, a hand) before the tracker sees it, and the ball names stay a distribution."""
    rng = np.random.default_rng(3)
    neg = tmp_path / "neg"
    for split, n in (("train", 40), ("val", 8)):
        (neg / split / "not_a_ball").mkdir(parents=True)
        for k in range(n):  # a cue shaft: a pale bar across the cloth
            img = np.full((CROP_PX, CROP_PX, 3), (40, 120, 40), dtype=np.uint8)
            cv2.line(img, (0, int(rng.integers(32))), (31, int(rng.integers(32))), (150, 200, 220), 4)
            cv2.imwrite(str(neg / split / "not_a_ball" / f"{k}.png"), img)
    out = tmp_path / "identity.onnx"
    args = ["train", "identity", "--crops", str(ball_data / "crops"), str(neg), "--out", str(out)]
    assert main([*args, "--epochs", "2", "--batch", "32"]) == 0
    recipe = json.loads(out.with_suffix(".json").read_text())
    assert recipe["names"] == list(IDENTITY_NAMES) and recipe["not_a_ball"] is True
    assert recipe["train_not_a_ball"] == 40 and recipe["val_not_a_ball"] == 8
    clf = IdentityClassifier(out)
    assert clf.rejects and clf.names == IDENTITY_NAMES
    frame = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    boxes = np.array([[10.0, 10, 26, 26], [300, 200, 316, 216]])
    probs, not_ball = clf.classify(frame, boxes)
    assert probs.shape == (2, 16) and np.allclose(probs.sum(axis=1), 1.0)
    assert not_ball.shape == (2,) and ((not_ball >= 0) & (not_ball <= 1)).all()

    class Balls:
        def detect(self, frame_rgb: np.ndarray) -> Detections:
            return Detections(np.array([*boxes, [0, 0, 40, 40]]), np.array([0.9, 0.8, 0.7]), ("ball", "ball", "pocket"))

    drop_all = IdentifiedDetector(Balls(), clf, reject_min=0.0)
    dets = drop_all.detect(frame)
    assert dets.labels == ("pocket",) and drop_all.rejected == 2 and dets.identity is not None
    keep_all = IdentifiedDetector(Balls(), clf, reject_min=None)
    assert len(keep_all.detect(frame)) == 3 and keep_all.rejected == 0
    # a model without the class never rejects, whatever the threshold
    plain = tmp_path / "plain.onnx"
    assert main(["train", "identity", "--crops", str(ball_data / "crops"), "--out", str(plain), "--epochs", "1"]) == 0
    # a checkpoint with the extra class cannot start a run without it: one line, exit 2
    bad = ["--init", str(out.with_suffix(".ckpt.safetensors")), "--epochs", "1"]
    assert (
        main(["train", "identity", "--crops", str(ball_data / "crops"), "--out", str(tmp_path / "x.onnx"), *bad]) == 2
    )
    assert "--init" in capsys.readouterr().err
    old = IdentityClassifier(plain)
    assert not old.rejects and len(IdentifiedDetector(Balls(), old, reject_min=0.0).detect(frame)) == 3
