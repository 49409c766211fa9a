"""The export stage behind ``edge-detsam2 export``.

Builds, on this machine, the artifacts the config's runtimes load: the SAM2 image encoder
(ONNX, then a TensorRT engine with --format engine) with its positional encodings, and the
YOLO detector through ultralytics' exporter. Each artifact gets a JSON sidecar (hashes,
image size, precision, versions, GPU) and goes to the cache directory under a key of those
hashes. A parity report against torch is printed at the end.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from edge_detsam2.errors import UsageError

logger = logging.getLogger(__name__)


class Steps:
    """Numbered progress lines on stderr: ``[2/5] text (+12.3 s)``."""

    def __init__(self, total: int) -> None:
        self.total, self.n, self.t0 = total, 0, time.monotonic()

    def __call__(self, text: str) -> None:
        self.n += 1
        print(f"[{self.n}/{self.total}] {text} (+{time.monotonic() - self.t0:.1f} s)", file=sys.stderr, flush=True)


def export_sam2(cfg: Any, fmt: str, half: bool, device: str, cache: Path, steps: Steps) -> dict[str, Any]:
    import torch
    from edge_detsam2.export import sam2_encoder

    from edge_detsam2.artifacts import ArtifactMeta, file_sha256, precision, sam2_encoder_path
    from edge_detsam2.tracker.encoders import OnnxEncoder, TensorRTEncoder, positional_encodings, save_positional
    from edge_detsam2.tracker.model import ModelSpec, build_model, model_fingerprint

    s = cfg.perception.sam2
    steps(f"building SAM2 {s.config} {' '.join(s.overrides)}")
    model = build_model(ModelSpec(s.config, s.checkpoint, tuple(s.overrides), device))
    model_hash = model_fingerprint(model)
    size = int(model.image_size)
    onnx_path = sam2_encoder_path(cache, "onnx", model_hash, size, half, cfg.export.opset)
    steps(f"exporting the image encoder at {size} px to ONNX (opset {cfg.export.opset}) -> {onnx_path.name}")
    outputs = sam2_encoder.export_onnx(model, onnx_path, opset=cfg.export.opset, half=half)
    pos = positional_encodings(model)
    save_positional(onnx_path, pos)
    source = f"{s.config} {list(s.overrides)} checkpoint={s.checkpoint}"
    common = {
        "kind": "sam2_image_encoder",
        "source_hash": model_hash,
        "source": source,
        "image_size": size,
        "precision": precision(half),
        "opset": cfg.export.opset,
        "inputs": {"image": [1, 3, size, size]},
        "outputs": outputs,
    }
    meta = ArtifactMeta(format="onnx", key=onnx_path.stem.split("-")[-1], sha256=file_sha256(onnx_path), **common)
    provider = "cuda" if device.startswith("cuda") else "cpu"
    steps("checking ONNX Runtime parity against torch")
    meta.parity = sam2_encoder.parity(model, OnnxEncoder(onnx_path, torch.device(device), provider))
    meta.save(onnx_path)
    result: dict[str, Any] = {"onnx": str(onnx_path), "onnx_parity": meta.parity}
    if fmt == "engine":
        from edge_detsam2.export.tensorrt_build import build_engine

        engine_path = sam2_encoder_path(cache, "engine", model_hash, size, half, cfg.export.opset)
        steps(f"building the TensorRT engine ({precision(half)}) -> {engine_path.name}")
        build_engine(
            onnx_path,
            engine_path,
            half=half,
            workspace_gb=cfg.export.workspace_gb,
            timing_cache=cache / "tensorrt.timing-cache",
        )
        save_positional(engine_path, pos)
        emeta = ArtifactMeta(
            format="engine", key=engine_path.stem.split("-")[-1], sha256=file_sha256(engine_path), **common
        )
        emeta.parity = sam2_encoder.parity(model, TensorRTEncoder(engine_path, device))
        emeta.save(engine_path)
        result.update(engine=str(engine_path), engine_parity=emeta.parity)
    return result


def export_sam2_parts(cfg: Any, fmt: str, half: bool, device: str, cache: Path, steps: Steps) -> dict[str, Any]:
    """Every per-frame SAM2 part to ONNX (and on a GPU the TensorRT engines), with parity reports."""
    from edge_detsam2.export import sam2_parts

    from edge_detsam2.artifacts import sam2_parts_dir, sam2_source_hash
    from edge_detsam2.tracker.model import ModelSpec, build_model
    from edge_detsam2.tracker.runners import OnnxPartRunner

    s = cfg.perception.sam2
    if s.checkpoint is None:
        raise UsageError("perception.sam2.checkpoint: the exported parts are built from a checkpoint; set one")
    source_hash = sam2_source_hash(s.config, s.overrides, s.checkpoint)
    steps(f"building SAM2 {s.config} from {s.checkpoint.name}")
    model = build_model(ModelSpec(s.config, s.checkpoint, tuple(s.overrides), "cpu"))
    out = sam2_parts_dir(cache, source_hash, cfg.export.opset)
    steps(f"exporting every SAM2 part to ONNX (opset {cfg.export.opset}) -> {out.name}/")
    source = {"source_hash": source_hash, "source": f"{s.config} {list(s.overrides)} checkpoint={s.checkpoint}"}
    meta = sam2_parts.export_parts(model, out, opset=cfg.export.opset, source=source)
    provider = "cuda" if device.startswith("cuda") else "cpu"
    steps(f"checking ONNX Runtime ({provider}) parity against torch: every part, then tracked masks")
    runner = OnnxPartRunner(out, provider=provider)
    meta["parity"] = {
        "onnxruntime": {
            "parts": sam2_parts.part_parity(model, runner),
            "tracked": sam2_parts.tracked_parity(model, runner, frames=12, objects=4, prompt_every=6),
        }
    }
    result: dict[str, Any] = {"parts": str(out), "parity": meta["parity"]["onnxruntime"]}
    if fmt == "engine":
        steps(f"building TensorRT engines ({'fp16' if half else 'fp32'}) through ONNX Runtime -> {out.name}/trt-cache")
        trt = OnnxPartRunner(out, provider="tensorrt", half=half)
        meta["parity"]["tensorrt"] = {
            "precision": "fp16" if half else "fp32",
            "parts": sam2_parts.part_parity(model, trt),
            "tracked": sam2_parts.tracked_parity(model, trt),
        }
        result["tensorrt_parity"] = meta["parity"]["tensorrt"]
    sam2_parts.write_sidecar(out, meta)
    logger.info("SAM2 parts set %s: loaded by perception.sam2.runtime onnxruntime / tensorrt", out)
    return result


def export_yolo(
    cfg: Any, weights: Path, fmt: str, half: bool, device: str, imgsz: int, cache: Path, steps: Steps
) -> dict[str, Any]:
    from edge_detsam2.export import yolo
    from edge_detsam2.export.sam2_encoder import test_image

    from edge_detsam2.artifacts import ArtifactMeta, file_sha256, precision, yolo_path
    from edge_detsam2.tracker.preprocess import to_uint8_image

    if not weights.is_file():
        raise UsageError(f"perception.detector.weights: {weights} does not exist")
    weights_hash = file_sha256(weights)
    dest = yolo_path(cache, fmt, weights_hash, imgsz, half, cfg.export.opset)  # type: ignore[arg-type]
    steps(f"exporting YOLO {weights.name} at {imgsz} px to {fmt} with ultralytics -> {dest.name}")
    yolo.export_yolo(weights, fmt, imgsz=imgsz, half=half, device=device, opset=cfg.export.opset, dest=dest)
    steps("checking detector parity against the .pt")
    frames = []
    for seed in (0, 1, 2):
        frames.append(to_uint8_image(test_image(imgsz, seed)[0]))
    par = yolo.parity(weights, dest, frames, imgsz, device)
    meta = ArtifactMeta(
        kind="yolo",
        format=fmt,
        key=dest.stem.split("-")[-1],
        source_hash=weights_hash,
        source=str(weights),
        image_size=imgsz,
        precision=precision(half),
        opset=cfg.export.opset,
        sha256=file_sha256(dest),
        parity=par,
    )
    meta.save(dest)
    return {fmt: str(dest), "parity": par}
