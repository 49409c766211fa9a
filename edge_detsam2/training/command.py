"""``edge-detsam2 train detector|sam2``: train the models on simulated (or your own) data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge_detsam2.errors import UsageError


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("train", help="train the detector or the SAM2 video model on simulated tables")
    tsub = p.add_subparsers(dest="what", required=True)
    d = tsub.add_parser("detector", help="ultralytics YOLO on a 'simulate --yolo-dataset' set (or your own)")
    d.add_argument("--data", type=Path, required=True, help="ultralytics data.yaml")
    d.add_argument("--out", type=Path, required=True, help="where to write the best weights (.pt)")
    d.add_argument(
        "--model",
        default="yolov8n",
        help="yolov8p (pico: n's depth at half its width), yolov8n, yolov8s, or a .pt to fine-tune (default yolov8n)",
    )
    d.add_argument("--epochs", type=int, default=30)
    d.add_argument("--imgsz", type=int, default=640)
    d.add_argument("--batch", type=int, default=8)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--device", default="cpu")
    d.add_argument("--workers", type=int, default=2)
    d.add_argument("--patience", type=int, default=50, help="stop after this many epochs without improvement")
    d.add_argument("--hours", type=float, default=None, help="time budget; ultralytics fits the epochs into it")
    d.add_argument("--square", action="store_true", help="square mosaic batches instead of rect (letterboxed) ones")
    d.add_argument("--no-cache", action="store_true", help="do not keep decoded images in RAM")
    d.add_argument(
        "--workdir", type=Path, default=None, help="keep the run here (last.pt every epoch) so --resume can go on"
    )
    d.add_argument("--resume", action="store_true", help="go on with the interrupted run in --workdir")
    d.set_defaults(func=run_detector)
    i = tsub.add_parser("identity", help="ball-identity classifier on 'simulate --crops' crops (ONNX out)")
    i.add_argument("--crops", type=Path, required=True, help="directory written by 'simulate --crops'")
    i.add_argument("--out", type=Path, required=True, help="ONNX model to write (sidecar .json beside it)")
    i.add_argument("--epochs", type=int, default=30)
    i.add_argument("--batch", type=int, default=128)
    i.add_argument("--lr", type=float, default=3e-3)
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--time-budget", type=float, default=None, help="stop after the epoch that passes this (s)")
    i.add_argument("--resume", action="store_true", help="go on from the checkpoint beside --out")
    i.set_defaults(func=run_identity)
    s = tsub.add_parser("sam2", help="train or fine-tune SAM2 on simulated clips with ground-truth masks")
    s.add_argument("--clips", type=Path, required=True, help="directory written by 'edge-detsam2 simulate'")
    s.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt, {'model': state_dict})")
    s.add_argument("--config", default="configs/sam2.1/sam2.1_hiera_t.yaml", help="official SAM2 config name")
    s.add_argument("--image-size", type=int, default=512, help="input size of the small CPU config (default 512)")
    s.add_argument(
        "--size",
        choices=["slim", "small", "full"],
        default="slim",
        help="slim: the bundled CPU model (default); small: reduced hiera-tiny as in tests; full: the config as is",
    )
    s.add_argument("--init", type=Path, default=None, help="SAM2.1 checkpoint to fine-tune (default: random init)")
    s.add_argument("--iterations", type=int, default=1000)
    s.add_argument("--frames", type=int, default=4, help="frames per training sample (1 prompted + tracked)")
    s.add_argument("--objects", type=int, default=3, help="balls per training sample")
    s.add_argument("--lr", type=float, default=3e-4)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu")
    s.add_argument("--eval-clips", type=Path, default=None, help="held-out clips: mask IoU over 60 tracked frames")
    s.add_argument("--time-budget", type=float, default=None, help="stop after this many seconds")
    s.set_defaults(func=run_sam2)


def run_detector(args: argparse.Namespace) -> int:
    from edge_detsam2.training.detector import train_detector

    if args.epochs < 1 or args.imgsz < 32 or args.batch < 1:
        raise UsageError("--epochs, --batch must be >= 1 and --imgsz >= 32")
    if args.resume and args.workdir is None:
        raise UsageError("--resume needs --workdir: the directory of the interrupted run")
    recipe = train_detector(
        args.data,
        args.out,
        model=args.model,
        epochs=args.epochs,
        imgsz=args.imgsz,
        batch=args.batch,
        seed=args.seed,
        device=args.device,
        workers=args.workers,
        patience=args.patience,
        rect=not args.square,
        hours=args.hours,
        workdir=args.workdir,
        resume=args.resume,
        cache=not args.no_cache,
    )
    print(json.dumps({k: recipe[k] for k in ("val", "train_seconds")}, indent=1))
    return 0


def run_identity(args: argparse.Namespace) -> int:
    from edge_detsam2.training.identity import train_identity

    if args.epochs < 1 or args.batch < 1 or args.lr <= 0:
        raise UsageError("--epochs and --batch must be >= 1, --lr > 0")
    recipe = train_identity(
        args.crops,
        args.out,
        epochs=args.epochs,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        resume=args.resume,
        time_budget_s=args.time_budget,
    )
    print(json.dumps({k: recipe[k] for k in ("val_accuracy", "train_seconds", "train_crops")}, indent=1))
    return 0


def run_sam2(args: argparse.Namespace) -> int:
    from edge_detsam2.tracker.model import slim_overrides, small_overrides
    from edge_detsam2.training.sam2 import train_sam2

    if args.iterations < 1 or args.frames < 2 or args.objects < 1:
        raise UsageError("--iterations >= 1, --frames >= 2 and --objects >= 1")
    if args.image_size % 32:
        raise UsageError("--image-size must be a multiple of 32")
    if args.size == "full":
        overrides: tuple[str, ...] = (f"++model.image_size={args.image_size}",)
    elif args.size == "small":
        overrides = small_overrides(args.image_size)
    else:
        overrides = slim_overrides(args.image_size)
    recipe = train_sam2(
        args.clips,
        args.out,
        config=args.config,
        overrides=tuple(overrides),
        init=args.init,
        iterations=args.iterations,
        frames_per_sample=args.frames,
        objects_per_sample=args.objects,
        lr=args.lr,
        seed=args.seed,
        device=args.device,
        eval_clips=args.eval_clips,
        time_budget_s=args.time_budget,
    )
    summary = {"iterations": recipe["iterations"], "train_seconds": recipe["train_seconds"]}
    if "eval" in recipe:
        summary["eval_mean_iou"] = recipe["eval"]["mean_iou"]
    print(json.dumps(summary, indent=1))
    return 0
