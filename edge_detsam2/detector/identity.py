"""Ball identity from full-resolution crops: which of the 16 balls a ``ball`` detection is.

A 640-px detector sees a ball as ~11 px, too few for stripes and numbers; the crop is cut
from the camera frame itself. The classifier is a small CNN exported to ONNX (trained by
``edge-detsam2 train identity``) with a JSON sidecar naming its classes and crop geometry.
It runs under ONNX Runtime, all crops of a frame in one batch. Per-detection answers are
probabilities: the tracker votes over a track's observations (``tracker.identity``).

A model trained with a ``not_a_ball`` class (sidecar ``"not_a_ball": true``: one more output,
last) also checks the detector: the bundled detector's false boxes sit on the cue's white
ferrule and chalked tip and on players' hands, and a box the classifier calls not a ball at
``reject_min`` or more is dropped before it can prompt SAM2 or start a track.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from edge_detsam2.detector.types import Detections
from edge_detsam2.errors import EdgeDetSam2Error
from edge_detsam2.onnxrt import session_options

logger = logging.getLogger(__name__)

CROP_PX = 32
#: The crop's side is this many times the box's longer side (context for a partly hidden ball).
CROP_SCALE = 1.5
#: The extra class of a classifier that also rejects false detections (cue tip, hands).
NOT_A_BALL = "not_a_ball"


class IdentityError(EdgeDetSam2Error):
    """The identity classifier cannot be used."""


def crop_boxes(
    image_rgb: NDArray[np.uint8], boxes_xyxy: NDArray[np.float64], size: int = CROP_PX, scale: float = CROP_SCALE
) -> NDArray[np.uint8]:
    """(N, size, size, 3) square crops centred on each box, ``scale`` × its longer side, edges replicated."""
    out = np.empty((len(boxes_xyxy), size, size, 3), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes_xyxy, dtype=np.float64)):
        side = max(x2 - x1, y2 - y1, 2.0) * scale
        s = size / side
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        # Maps crop pixel centres onto the frame (OpenCV pixel-centre convention).
        m = np.array([[s, 0, size / 2 - 0.5 - s * cx], [0, s, size / 2 - 0.5 - s * cy]], dtype=np.float64)
        interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
        out[i] = cv2.warpAffine(image_rgb, m, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    return out


def to_input(crops: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(N, H, W, 3) uint8 RGB -> (N, 3, H, W) float32 in [0, 1]: the classifier's input."""
    return np.ascontiguousarray(crops.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0


class IdentityClassifier:
    """ONNX Runtime identity classifier; ``probabilities(frame, boxes)`` -> (N, K)."""

    def __init__(self, path: Path, *, threads: int = 0) -> None:
        meta_path = path.with_suffix(".json")
        if not path.is_file():
            raise IdentityError(f"identity model {path} does not exist; train one with: edge-detsam2 train identity")
        try:
            meta = json.loads(meta_path.read_text())
            self.names: tuple[str, ...] = tuple(meta["names"])
            self.crop_px = int(meta["crop_px"])
            self.crop_scale = float(meta["crop_scale"])
            self.rejects = bool(meta.get("not_a_ball", False))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IdentityError(
                f"identity model {path}: its sidecar {meta_path.name} is missing or unreadable ({exc}); "
                "re-export it with: edge-detsam2 train identity"
            ) from None
        import onnxruntime as ort

        opts = session_options(threads, spinning=False)  # see detector.yolo.OnnxYolo
        try:
            self._session: Any = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise IdentityError(f"identity model {path} cannot be loaded ({type(exc).__name__}: {exc})") from None
        self._input = self._session.get_inputs()[0].name
        n_out = self._session.get_outputs()[0].shape[-1]
        n_names = len(self.names) + self.rejects
        if isinstance(n_out, int) and n_out != n_names:
            raise IdentityError(
                f"identity model {path}: {n_out} outputs but its sidecar names {n_names} classes"
                + (f" ({len(self.names)} balls + {NOT_A_BALL})" if self.rejects else "")
            )

    def classify(
        self, image_rgb: NDArray[np.uint8], boxes_xyxy: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(N, K) probabilities of the K ball names, given a ball, and (N,) of not a ball (0 for a
        model without that class)."""
        if len(boxes_xyxy) == 0:
            return np.zeros((0, len(self.names))), np.zeros(0)
        x = to_input(crop_boxes(image_rgb, boxes_xyxy, self.crop_px, self.crop_scale))
        logits = np.asarray(self._session.run(None, {self._input: x})[0], dtype=np.float64)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        if not self.rejects:
            return p, np.zeros(len(p))
        balls = p[:, :-1]
        return balls / np.maximum(balls.sum(axis=1, keepdims=True), 1e-12), p[:, -1].copy()

    def probabilities(self, image_rgb: NDArray[np.uint8], boxes_xyxy: NDArray[np.float64]) -> NDArray[np.float64]:
        """(N, K) probabilities of the K ball names (given that each box is a ball)."""
        return self.classify(image_rgb, boxes_xyxy)[0]


class IdentifiedDetector:
    """A ball/pocket detector whose ``ball`` boxes are named by the identity classifier.

    Each ball detection gets the most probable identity as its label and the full
    probability row in ``Detections.identity`` for the tracker's vote. With a classifier that
    has the ``not_a_ball`` class, a ball box it calls not a ball at ``reject_min`` or more is
    dropped (counted in ``rejected``); ``reject_min`` None (the default; the daemon passes
    ``detector.identity_reject``) keeps every box.
    """

    def __init__(
        self,
        detector: Any,
        classifier: IdentityClassifier,
        *,
        ball_class: str = "ball",
        reject_min: float | None = None,
    ) -> None:
        self.detector, self.classifier, self.ball_class = detector, classifier, ball_class
        self.reject_min = reject_min
        self.rejected = 0

    def detect(self, frame_rgb: NDArray[np.uint8]) -> Detections:
        dets = self.detector.detect(frame_rgb)
        is_ball = np.array([lb == self.ball_class for lb in dets.labels], dtype=bool)
        probs = np.zeros((len(dets), len(self.classifier.names)))
        not_ball = np.zeros(len(dets))
        if is_ball.any():
            probs[is_ball], not_ball[is_ball] = self.classifier.classify(frame_rgb, dets.boxes[is_ball])
        labels = tuple(
            self.classifier.names[int(np.argmax(p))] if b else lb
            for lb, b, p in zip(dets.labels, is_ball, probs, strict=True)
        )
        out = Detections(dets.boxes, dets.scores, labels, identity=probs, identity_names=self.classifier.names)
        if self.reject_min is None or not self.classifier.rejects:
            return out
        keep = ~(is_ball & (not_ball >= self.reject_min))
        if keep.all():
            return out
        self.rejected += int((~keep).sum())
        return out.select(keep)
