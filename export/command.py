"""``edge-detsam2 export --config FILE [--format onnx|engine] [--half] [--imgsz N] [--device D]``.

Builds, on this machine, the artifacts the config's runtimes load: the SAM2 image encoder
(ONNX, then a TensorRT engine with --format engine) with its positional encodings, and the
YOLO detector through ultralytics' exporter. Each artifact gets a JSON sidecar (hashes,
image size, precision, versions, GPU) and goes to the cache directory under a key of those
hashes. A parity report against torch is printed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from edge_detsam2.errors import UsageError

logger = logging.getLogger(__name__)


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "export",
        help="build ONNX / TensorRT artifacts for the configured models on this machine",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    p.add_argument("--config", type=Path, required=True, help="the daemon's YAML config")
    p.add_argument("--format", choices=["onnx", "engine"], default="onnx", help="onnx (any machine) or engine (GPU)")
    p.add_argument("--half", action="store_true", help="fp16 (GPU only); same as export.half: true")
    p.add_argument("--imgsz", type=int, default=None, help="detector input size (default: detector.imgsz or 640)")
    p.add_argument("--device", default=None, help="torch device to export on (default: perception.device)")
    p.add_argument("--only", choices=["sam2", "yolo"], default=None, help="export one model only")
    p.set_defaults(func=run)


class _Steps:
    def __init__(self, total: int) -> None:
        self.total, self.n, self.t0 = total, 0, time.monotonic()

    def __call__(self, text: str) -> None:
        self.n += 1
        print(f"[{self.n}/{self.total}] {text} (+{time.monotonic() - self.t0:.1f} s)", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from edge_detsam2.artifacts import cache_dir, precision, runtime_versions
    from edge_detsam2.config import load_config

    cfg = load_config(args.config)
    half = bool(args.half or cfg.export.half)
    device = args.device or cfg.perception.device
    if half and not device.startswith("cuda"):
        raise UsageError("--half (export.half) builds fp16 artifacts for GPUs: use it with --device cuda")
    if args.format == "engine":
        from edge_detsam2.export.tensorrt_build import require_tensorrt

        require_tensorrt()
    det = cfg.perception.detector
    do_sam2 = args.only in (None, "sam2")
    do_yolo = args.only in (None, "yolo") and det.weights is not None
    if args.only == "yolo" and det.weights is None:
        raise UsageError("perception.detector.weights: set the YOLO weights to export")
    cache = cache_dir(cfg.export.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    steps = _Steps((3 + (args.format == "engine")) * do_sam2 + 2 * do_yolo)
    report: dict[str, Any] = {"cache": str(cache), "format": args.format, "precision": precision(half)}
    # ultralytics and the tracer print to stdout; stdout carries only the final JSON report
    with contextlib.redirect_stdout(sys.stderr):
        if do_sam2:
            report["sam2_image_encoder"] = _export_sam2(cfg, args.format, half, device, cache, steps)
        if do_yolo:
            assert det.weights is not None
            imgsz = args.imgsz or det.imgsz or 640
            report["yolo"] = _export_yolo(cfg, det.weights, args.format, half, device, imgsz, cache, steps)
    report["versions"] = runtime_versions()
    print(json.dumps(report, indent=1))
    return 0


def _export_sam2(cfg: Any, fmt: str, half: bool, device: str, cache: Path, steps: _Steps) -> dict[str, Any]:
    import torch
    from edge_detsam2.export import sam2_encoder

    from edge_detsam2.artifacts import ArtifactMeta, file_sha256, precision, sam2_encoder_path
    from edge_detsam2.tracker.bank import model_fingerprint
    from edge_detsam2.tracker.encoders import OnnxEncoder, TensorRTEncoder, positional_encodings, save_positional
    from edge_detsam2.tracker.model import ModelSpec, build_model

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


def _export_yolo(
    cfg: Any, weights: Path, fmt: str, half: bool, device: str, imgsz: int, cache: Path, steps: _Steps
) -> dict[str, Any]:
    from edge_detsam2.export import yolo
    from edge_detsam2.export.sam2_encoder import test_image

    from edge_detsam2.artifacts import ArtifactMeta, file_sha256, precision, yolo_path

    if not weights.is_file():
        raise UsageError(f"perception.detector.weights: {weights} does not exist")
    weights_hash = file_sha256(weights)
    dest = yolo_path(cache, fmt, weights_hash, imgsz, half, cfg.export.opset)  # type: ignore[arg-type]
    steps(f"exporting YOLO {weights.name} at {imgsz} px to {fmt} with ultralytics -> {dest.name}")
    yolo.export_yolo(weights, fmt, imgsz=imgsz, half=half, device=device, opset=cfg.export.opset, dest=dest)
    steps("checking detector parity against the .pt")
    frames = []
    for seed in (0, 1, 2):
        x = test_image(imgsz, seed)[0].permute(1, 2, 0).numpy()
        frames.append(((x * (0.229, 0.224, 0.225) + (0.485, 0.456, 0.406)).clip(0, 1) * 255).astype("uint8"))
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
