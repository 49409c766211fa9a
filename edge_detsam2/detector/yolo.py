"""YOLO detector: ``.onnx`` runs under ONNX Runtime directly, ``.pt`` and ``.engine`` through ultralytics.

The ONNX path does what ultralytics' predictor does for an exported YOLOv8 (letterbox to the
model's input, one run, per-class NMS) in numpy and OpenCV: no torch, and about a third less
time per frame on a 2-core CPU than going through the predictor. ``export`` checks the two
paths against each other.
"""

from __future__ import annotations

import ast
import os
import tempfile
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from edge_detsam2.detector.types import Detections
from edge_detsam2.errors import EdgeDetSam2Error
from edge_detsam2.onnxrt import session_options

SUFFIXES = (".pt", ".onnx", ".engine")


class DetectorError(EdgeDetSam2Error):
    """The detector weights cannot be used."""


def _quiet_ultralytics() -> None:
    # ultralytics writes a settings file at import; keep it out of the user's home.
    os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(tempfile.gettempdir()) / "edge-detsam2-ultralytics"))
    os.environ.setdefault("YOLO_VERBOSE", "False")


#: Letterbox padding grey, as ultralytics pads.
PAD_VALUE = 114
#: Most boxes one frame keeps after NMS (ultralytics' ``max_det``).
MAX_DET = 300


def letterbox(image: NDArray[np.uint8], shape_hw: tuple[int, int]) -> tuple[NDArray[np.uint8], float, tuple[int, int]]:
    """Resize keeping the aspect ratio and pad to ``shape_hw``, centred (ultralytics' LetterBox).

    Returns the padded image, the scale and the (left, top) padding.
    """
    h, w = image.shape[:2]
    r = min(shape_hw[0] / h, shape_hw[1] / w)
    nw, nh = round(w * r), round(h * r)
    dw, dh = (shape_hw[1] - nw) / 2, (shape_hw[0] - nh) / 2
    resized = image if (nw, nh) == (w, h) else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    padded = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return np.asarray(padded, dtype=np.uint8), r, (left, top)


def nms(boxes: NDArray[np.float64], scores: NDArray[np.float64], iou: float) -> NDArray[np.intp]:
    """Greedy non-maximum suppression; indices of the kept boxes, best first."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ix1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        iy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        ix2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        iy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
        order = rest[inter / (areas[i] + areas[rest] - inter + 1e-9) <= iou]
    return np.asarray(keep, dtype=np.intp)


class OnnxYolo:
    """An ultralytics YOLOv8 ONNX export under ONNX Runtime (input size and names from its metadata)."""

    def __init__(self, path: Path, *, imgsz: int | None = None, threads: int = 0) -> None:
        import onnxruntime as ort

        # Idle ORT workers spin for a while after each run, taking the cores from whatever runs
        # next (the identity classifier, SAM2): measured 75 -> 47 ms/frame with spinning off.
        opts = session_options(threads, spinning=False)
        try:
            self._session: Any = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            meta = self._session.get_modelmeta().custom_metadata_map
            names = ast.literal_eval(meta["names"])  # a dict literal, never executed
            self.names: dict[int, str] = {int(k): str(v) for k, v in names.items()}
        except Exception as exc:  # onnxruntime raises its own types; metadata may be absent
            raise DetectorError(
                f"detector weights {path} cannot be loaded as an ultralytics YOLO export "
                f"({type(exc).__name__}: {exc}); re-export with: edge-detsam2 export"
            ) from None
        inp = self._session.get_inputs()[0]
        self._input = inp.name
        h, w = inp.shape[2:4]
        side = imgsz or 640
        self.shape_hw = (h, w) if isinstance(h, int) and isinstance(w, int) else (side, side)

    def __call__(
        self, frame_rgb: NDArray[np.uint8], confidence: float, iou: float
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.intp]]:
        """Boxes (xyxy, frame pixels), scores and class indices above ``confidence`` after NMS."""
        img, r, (left, top) = letterbox(frame_rgb, self.shape_hw)
        x = np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32) / 255.0
        pred = np.asarray(self._session.run(None, {self._input: x})[0][0], dtype=np.float64).T  # (A, 4 + nc)
        cls_scores = pred[:, 4:]
        cls = np.argmax(cls_scores, axis=1)
        conf = cls_scores[np.arange(len(cls)), cls]
        keep = conf > confidence
        xywh, conf, cls = pred[keep, :4], conf[keep], cls[keep]
        boxes = np.concatenate([xywh[:, :2] - xywh[:, 2:] / 2, xywh[:, :2] + xywh[:, 2:] / 2], axis=1)
        # per-class NMS: shift each class's boxes far apart (ultralytics' max_wh offset)
        kept = nms(boxes + cls[:, None] * 7680.0, conf, iou)[:MAX_DET]
        boxes, conf, cls = boxes[kept], conf[kept], cls[kept]
        boxes[:, [0, 2]] = np.clip((boxes[:, [0, 2]] - left) / r, 0, frame_rgb.shape[1])
        boxes[:, [1, 3]] = np.clip((boxes[:, [1, 3]] - top) / r, 0, frame_rgb.shape[0])
        return boxes, conf, cls


class YoloDetector:
    """Runs a YOLO model on RGB frames; NMS IoU and input size as configured.

    ``.onnx`` weights run through :class:`OnnxYolo` (no torch); ``.pt`` and ``.engine``
    through ultralytics' predictor.
    """

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
        self.confidence, self.iou, self.imgsz, self.device = confidence, iou, imgsz, device
        self._onnx: OnnxYolo | None = None
        if weights.suffix == ".onnx" and device == "cpu":
            self._onnx = OnnxYolo(weights, imgsz=imgsz)
            self.names: dict[int, str] = self._onnx.names
            return
        _quiet_ultralytics()
        from ultralytics import YOLO  # type: ignore[attr-defined]

        try:
            self._model: Any = YOLO(str(weights), task="detect")
        except Exception as exc:  # ultralytics raises many types for unreadable weights
            raise DetectorError(f"detector weights {weights} cannot be loaded ({type(exc).__name__}: {exc})") from None
        self.names = dict(self._model.names)

    def detect(self, frame_rgb: NDArray[np.uint8]) -> Detections:
        if self._onnx is not None:
            boxes, scores, cls = self._onnx(frame_rgb, self.confidence, self.iou)
            return Detections(boxes, scores, tuple(self.names[int(c)] for c in cls))
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
