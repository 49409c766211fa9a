"""The ultralytics YOLO backend: a real yolov8n architecture with our classes, saved and loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ultralytics")

from yolo_helpers import make_random_yolo

from edge_detsam2.detector.yolo import DetectorError, YoloDetector
from edge_detsam2.sim.yolo_dataset import CLASS_NAMES


@pytest.fixture(scope="module")
def yolo_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_random_yolo(tmp_path_factory.mktemp("yolo") / "yolo.pt", cls_bias=3.0)


def test_detector_returns_boxes_in_the_frame_with_our_labels(yolo_pt: Path) -> None:
    det = YoloDetector(yolo_pt, confidence=0.5, imgsz=320)
    assert tuple(det.names[i] for i in sorted(det.names)) == CLASS_NAMES
    frame = np.random.default_rng(0).integers(0, 255, (180, 320, 3), dtype=np.uint8)
    out = det.detect(frame)
    assert len(out.boxes) > 0 and out.boxes.shape == (len(out.labels), 4)
    assert (out.boxes[:, 2] > out.boxes[:, 0]).all() and (out.boxes[:, 3] > out.boxes[:, 1]).all()
    assert out.boxes[:, [0, 2]].min() >= 0 and out.boxes[:, [0, 2]].max() <= 320
    assert out.boxes[:, [1, 3]].min() >= 0 and out.boxes[:, [1, 3]].max() <= 180
    assert set(out.labels) <= set(CLASS_NAMES) and (out.scores >= 0.5).all()
    strict = YoloDetector(yolo_pt, confidence=0.99, imgsz=320).detect(frame)
    assert len(strict.boxes) < len(out.boxes)  # the confidence floor is applied


def test_detector_errors_name_the_file_and_fix(tmp_path: Path) -> None:
    with pytest.raises(DetectorError, match="do not exist"):
        YoloDetector(tmp_path / "missing.pt")
    with pytest.raises(DetectorError, match=r"use a .*\.pt"):
        YoloDetector(tmp_path / "weights.bin")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(DetectorError, match="cannot be loaded"):
        YoloDetector(bad)


def test_onnx_runtime_path_matches_ultralytics_on_the_bundled_model(sim_dir: Path) -> None:
    """The torch-free ONNX path (letterbox, NMS in numpy) gives ultralytics' own boxes and scores."""
    import cv2

    from edge_detsam2.config import AppConfig
    from edge_detsam2.detector.yolo import _quiet_ultralytics

    weights = AppConfig().perception.detector.weights
    assert weights is not None and weights.suffix == ".onnx"
    ours = YoloDetector(weights, confidence=0.25, iou=0.5)
    assert ours._onnx is not None  # the direct path, not the predictor
    _quiet_ultralytics()
    from ultralytics import YOLO  # type: ignore[attr-defined]

    ref = YOLO(str(weights), task="detect")
    cap = cv2.VideoCapture(str(sim_dir / "clip_000.mp4"))
    checked = 0
    for k in range(30):
        ok, bgr = cap.read()
        assert ok
        if k % 10:
            continue
        got = ours.detect(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
        want = ref.predict(bgr, conf=0.25, iou=0.5, imgsz=640, verbose=False)[0].boxes
        assert len(got) == len(want) > 10  # a racked table: many balls found
        order_g, order_w = np.argsort(-got.scores), np.argsort(-want.conf.numpy())
        np.testing.assert_allclose(got.boxes[order_g], want.xyxy.numpy()[order_w], atol=0.01)
        np.testing.assert_allclose(got.scores[order_g], want.conf.numpy()[order_w], atol=1e-5)
        want_labels = [ours.names[int(c)] for c in want.cls.numpy()[order_w]]
        assert [got.labels[i] for i in order_g] == want_labels
        checked += 1
    assert checked == 3
