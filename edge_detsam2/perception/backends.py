"""Backend registries: which code runs the detector and the SAM2 image encoder.

``DETECTOR_RUNTIMES`` maps ``perception.detector.runtime`` and ``ENCODER_BACKENDS`` maps
``perception.sam2.encoder`` to a function that builds that backend. Exported artifacts
(ONNX, TensorRT) are loaded only after their sidecar matches the source model; a mismatch
ends with the ``export`` command that rebuilds them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from edge_detsam2.config import ExportSection, PerceptionSection
from edge_detsam2.errors import ConfigError
from edge_detsam2.tracker.tracker import Detector

logger = logging.getLogger(__name__)


def _weights_file(cfg: PerceptionSection, export: ExportSection) -> Path:
    """runtime 'weights': the file as given (an .onnx, .engine, or a trusted .pt)."""
    assert cfg.detector.weights is not None
    return cfg.detector.weights


def _exported_file(cfg: PerceptionSection, export: ExportSection) -> Path:
    """runtime 'onnx' / 'engine': the artifact 'export' built from the weights (verified)."""
    from edge_detsam2.artifacts import REBUILD, cache_dir, file_sha256, load_verified, yolo_path

    det = cfg.detector
    assert det.weights is not None and det.runtime != "weights"
    if not det.weights.is_file():
        raise ConfigError(f"perception.detector.weights: {det.weights} does not exist")
    imgsz = det.imgsz or 640
    weights_hash = file_sha256(det.weights)
    path = yolo_path(cache_dir(export.cache_dir), det.runtime, weights_hash, imgsz, export.half, export.opset)
    rebuild = f"{REBUILD} --format {det.runtime}"
    load_verified(path, kind="yolo", source_hash=weights_hash, image_size=imgsz, rebuild=rebuild)
    return path


#: perception.detector.runtime -> the detector file to load.
DETECTOR_RUNTIMES: dict[str, Callable[[PerceptionSection, ExportSection], Path]] = {
    "weights": _weights_file,
    "onnx": _exported_file,
    "engine": _exported_file,
}


def build_detector(cfg: PerceptionSection, export: ExportSection) -> Detector:
    """The configured YOLO detector (with the identity classifier when one is set)."""
    from edge_detsam2.detector.yolo import YoloDetector

    if cfg.detector.weights is None:
        raise ConfigError(
            "perception.detector.weights: set the YOLO weights (.pt, .onnx or .engine), "
            "or use tracker.detect_interval: -1 with a sam2.bank"
        )
    det_file = DETECTOR_RUNTIMES[cfg.detector.runtime](cfg, export)
    if det_file.suffix == ".pt":
        if not cfg.detector.allow_pickle:
            raise ConfigError(
                f"perception.detector.weights: {det_file} is a pickled .pt, which the daemon does not load "
                "(a crafted .pt runs code); convert it once with 'edge-detsam2 export --format onnx' and set "
                "perception.detector.runtime: onnx (or weights: the .onnx), or set "
                "perception.detector.allow_pickle: true for a file you trust"
            )
        logger.warning("perception.detector.allow_pickle: loading the pickled detector %s", det_file)
    det: Detector = YoloDetector(
        det_file,
        confidence=cfg.detector.confidence,
        iou=cfg.detector.iou,
        imgsz=cfg.detector.imgsz,
        device=cfg.device,
    )
    if cfg.detector.identity is not None:
        from edge_detsam2.detector.identity import IdentifiedDetector, IdentityClassifier

        det = IdentifiedDetector(det, IdentityClassifier(cfg.detector.identity), ball_class=cfg.detector.ball_class)
    return det


def _torch_encoder(cfg: PerceptionSection, export: ExportSection, model: Any) -> Any:
    from edge_detsam2.tracker.encoders import TorchEncoder

    return TorchEncoder(model)


def _exported_encoder(fmt: Literal["onnx", "engine"]) -> Callable[[PerceptionSection, ExportSection, Any], Any]:
    def build(cfg: PerceptionSection, export: ExportSection, model: Any) -> Any:
        import torch

        from edge_detsam2.artifacts import REBUILD, cache_dir, load_verified, sam2_encoder_path
        from edge_detsam2.tracker.encoders import OnnxEncoder, TensorRTEncoder
        from edge_detsam2.tracker.model import model_fingerprint

        model_hash, size = model_fingerprint(model), int(model.image_size)
        path = sam2_encoder_path(cache_dir(export.cache_dir), fmt, model_hash, size, export.half, export.opset)
        load_verified(
            path,
            kind="sam2_image_encoder",
            source_hash=model_hash,
            image_size=size,
            rebuild=f"{REBUILD} --format {fmt}",
        )
        device = torch.device(cfg.device)
        if fmt == "onnx":
            enc: Any = OnnxEncoder(path, device, "cuda" if device.type == "cuda" else "cpu")
            logger.info("SAM2 image encoder: ONNX Runtime %s, %s", enc.provider, path.name)
            return enc
        logger.info("SAM2 image encoder: TensorRT engine %s", path.name)
        return TensorRTEncoder(path, device)

    return build


#: perception.sam2.encoder -> a builder of the SAM2 image-encoder backend for a model.
ENCODER_BACKENDS: dict[str, Callable[[PerceptionSection, ExportSection, Any], Any]] = {
    "torch": _torch_encoder,
    "onnxruntime": _exported_encoder("onnx"),
    "tensorrt": _exported_encoder("engine"),
}


def build_encoder(cfg: PerceptionSection, export: ExportSection, model: Any) -> Any:
    return ENCODER_BACKENDS[cfg.sam2.encoder](cfg, export, model)
