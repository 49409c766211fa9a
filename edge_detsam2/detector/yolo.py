"""ultralytics YOLO detector: ``.pt``, ``.onnx`` and ``.engine`` weights all load through ultralytics."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.detector.types import Detections
from edge_detsam2.errors import EdgeDetSam2Error

SUFFIXES = (".pt", ".onnx", ".engine")


class DetectorError(EdgeDetSam2Error):
    """The detector weights cannot be used."""


def _quiet_ultralytics() -> None:
    # ultralytics writes a settings file at import; keep it out of the user's home.
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "edge-detsam2-ultralytics"))
    os.environ.setdefault("YOLO_VERBOSE", "False")


class YoloDetector:
    """Runs a YOLO model on RGB frames; NMS IoU and input size as configured."""

    def __init__(
        self,
        weights: Path,
        *,
        confidence: float = 0.25,
        iou: float = 0.5,
        imgsz: int | None = None,
        device: str = "cpu",
    ) -> None:
        if weights.suffix not in SUFFIXES:
            raise DetectorError(f"detector weights {weights}: use a {', '.join(SUFFIXES)} file")
        if not weights.is_file():
            raise DetectorError(
                f"detector weights {weights} do not exist; train or export them first "
                "(edge-detsam2 export, or ultralytics)"
            )
        _quiet_ultralytics()
        from ultralytics import YOLO  # type: ignore[attr-defined]

        try:
            self._model: Any = YOLO(str(weights), task="detect")
        except Exception as exc:  # ultralytics raises many types for unreadable weights
            raise DetectorError(f"detector weights {weights} cannot be loaded ({type(exc).__name__}: {exc})") from None
        self.confidence, self.iou, self.imgsz, self.device = confidence, iou, imgsz, device
        self.names: dict[int, str] = dict(self._model.names)

    def detect(self, frame_rgb: NDArray[np.uint8]) -> Detections:
        kwargs: dict[str, Any] = {"conf": self.confidence, "iou": self.iou, "device": self.device, "verbose": False}
        if self.imgsz is not None:
            kwargs["imgsz"] = self.imgsz
        # ultralytics expects BGR numpy frames
        result = self._model.predict(np.ascontiguousarray(frame_rgb[..., ::-1]), **kwargs)[0]
        boxes = result.boxes
        if boxes is None or len(boxes) == 0:
            return Detections.empty()
        cls = boxes.cls.cpu().numpy().astype(int)
        return Detections(
            boxes.xyxy.cpu().numpy().astype(np.float64),
            boxes.conf.cpu().numpy().astype(np.float64),
            tuple(self.names[int(c)] for c in cls),
        )
