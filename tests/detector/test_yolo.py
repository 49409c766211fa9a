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
