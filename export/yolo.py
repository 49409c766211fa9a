"""YOLO through ultralytics' own exporter, moved into the artifact cache with a sidecar."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np


def export_yolo(weights: Path, fmt: str, *, imgsz: int, half: bool, device: str, opset: int, dest: Path) -> Path:
    from edge_detsam2.detector.yolo import _quiet_ultralytics

    _quiet_ultralytics()
    from ultralytics import YOLO  # type: ignore[attr-defined]

    model = YOLO(str(weights), task="detect")
    kwargs: dict[str, Any] = {"format": fmt, "imgsz": imgsz, "half": half, "device": device}
    if fmt == "onnx":
        kwargs.update(opset=opset, simplify=False, dynamic=False)
    produced = Path(model.export(**kwargs))
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(produced), dest)
    return dest


def raw_parity(weights: Path, artifact: Path, frames: list[np.ndarray], imgsz: int, device: str) -> dict[str, float]:
    """Network outputs before NMS (boxes and class scores of every anchor), artifact vs .pt."""
    import torch
    from ultralytics.nn.autobackend import AutoBackend

    dev = torch.device(device)
    ref = AutoBackend(str(weights), device=dev, fp16=False)
    got = AutoBackend(str(artifact), device=dev, fp16=False)
    err = scale = 0.0
    for frame in frames:
        img = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float().div(255).to(dev)
        img = torch.nn.functional.interpolate(img, size=(imgsz, imgsz), mode="bilinear")
        a, b = ref(img), got(img)
        a = torch.as_tensor(a[0] if isinstance(a, (list, tuple)) else a).float()
        b = torch.as_tensor(b[0] if isinstance(b, (list, tuple)) else b).float().to(a.device)
        err = max(err, float((a - b).abs().max()))
        scale = max(scale, float(a.abs().max()))
    return {"raw_max_abs": err, "raw_abs_max": scale}


def parity(weights: Path, artifact: Path, frames: list[np.ndarray], imgsz: int, device: str) -> dict[str, float]:
    """Raw outputs and final boxes of the artifact vs the .pt on the same frames.

    Box counts and IoUs are only meaningful for a model whose scores are not tied (a trained
    one); the raw comparison holds for any weights.
    """
    from edge_detsam2.detector.yolo import YoloDetector
    from edge_detsam2.tracker.association import box_iou

    ref = YoloDetector(weights, confidence=0.25, imgsz=imgsz, device=device)
    got = YoloDetector(artifact, confidence=0.25, imgsz=imgsz, device=device)
    n_ref = n_got = 0
    ious: list[float] = []
    score_err = 0.0
    for frame in frames:
        a, b = ref.detect(frame), got.detect(frame)
        n_ref, n_got = n_ref + len(a.boxes), n_got + len(b.boxes)
        if len(a.boxes) and len(b.boxes):
            m = box_iou(a.boxes, b.boxes)
            best = m.argmax(axis=1)
            ious += [float(m[i, j]) for i, j in enumerate(best)]
            score_err = max(score_err, float(np.abs(a.scores - b.scores[best]).max()))
    return {
        **raw_parity(weights, artifact, frames, imgsz, device),
        "boxes_pt": n_ref,
        "boxes_artifact": n_got,
        "mean_iou": float(np.mean(ious)) if ious else float("nan"),
        "min_iou": float(np.min(ious)) if ious else float("nan"),
        "max_score_error": score_err,
    }
