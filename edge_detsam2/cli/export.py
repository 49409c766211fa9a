"""``edge-detsam2 export --config FILE [--format onnx|engine] [--half] [--imgsz N] [--device D]``.

Builds, on this machine, the artifacts the config's runtimes load (the export stage in
``edge_detsam2.export.stage``); stdout carries only the final JSON report.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

from edge_detsam2.errors import UsageError


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "export",
        help="build ONNX / TensorRT artifacts for the configured models on this machine",
        description="Build, on this machine, the ONNX (and with --format engine TensorRT) artifacts the config's "
        "runtimes load, with JSON sidecars and a parity report against torch.",
    )
    p.add_argument("--config", type=Path, required=True, help="the daemon's YAML config")
    p.add_argument("--format", choices=["onnx", "engine"], default="onnx", help="onnx (any machine) or engine (GPU)")
    p.add_argument("--half", action="store_true", help="fp16 (GPU only); same as export.half: true")
    p.add_argument("--imgsz", type=int, default=None, help="detector input size (default: detector.imgsz or 640)")
    p.add_argument("--device", default=None, help="torch device to export on (default: perception.device)")
    p.add_argument("--only", choices=["sam2", "sam2-parts", "yolo"], default=None, help="export one artifact kind only")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_detsam2.artifacts import cache_dir, precision, runtime_versions
    from edge_detsam2.config import load_config
    from edge_detsam2.export.stage import Steps, export_sam2, export_sam2_parts, export_yolo

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
    do_parts = args.only in (None, "sam2-parts") and cfg.perception.sam2.checkpoint is not None
    do_yolo = args.only in (None, "yolo") and det.weights is not None
    if args.only == "yolo" and det.weights is None:
        raise UsageError("perception.detector.weights: set the YOLO weights to export")
    cache = cache_dir(cfg.export.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    steps = Steps((3 + (args.format == "engine")) * (do_sam2 + do_parts) + 2 * do_yolo)
    report: dict[str, Any] = {"cache": str(cache), "format": args.format, "precision": precision(half)}
    # ultralytics and the tracer print to stdout; stdout carries only the final JSON report
    with contextlib.redirect_stdout(sys.stderr):
        if do_sam2:
            report["sam2_image_encoder"] = export_sam2(cfg, args.format, half, device, cache, steps)
        if do_parts:
            report["sam2_parts"] = export_sam2_parts(cfg, args.format, half, device, cache, steps)
        if do_yolo:
            assert det.weights is not None
            imgsz = args.imgsz or det.imgsz or 640
            report["yolo"] = export_yolo(cfg, det.weights, args.format, half, device, imgsz, cache, steps)
    report["versions"] = runtime_versions()
    print(json.dumps(report, indent=1))
    return 0
