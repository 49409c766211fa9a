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
        help="yolov8p (pico: n's depth at half its width), yolov8n, yolov8s; or a .pt, or an exported .onnx "
        "detector such as the bundled one, to fine-tune (default yolov8n)",
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
    i.add_argument(
        "--crops", type=Path, nargs="+", required=True, help="one or more directories written by 'simulate --crops'"
    )
    i.add_argument("--out", type=Path, required=True, help="ONNX model to write (sidecar .json beside it)")
    i.add_argument("--epochs", type=int, default=30)
    i.add_argument("--batch", type=int, default=128)
    i.add_argument("--lr", type=float, default=3e-3)
    i.add_argument("--seed", type=int, default=0)
    i.add_argument("--time-budget", type=float, default=None, help="stop after the epoch that passes this (s)")
    i.add_argument("--resume", action="store_true", help="go on from the checkpoint beside --out")
    i.add_argument(
        "--init", type=Path, default=None, help="fine-tune from this checkpoint (.ckpt.safetensors of an earlier run)"
    )
    i.set_defaults(func=run_identity)
    n = tsub.add_parser(
        "identity-negatives",
        help="crops of the detector's false ball boxes (cue tip, hands) on rendered clips: the not_a_ball class",
    )
    n.add_argument("--clips", type=Path, nargs="+", required=True, help="folders written by 'simulate' (with video)")
    n.add_argument(
        "--out", type=Path, required=True, help="crops folder to write (pass it to 'train identity --crops')"
    )
    n.add_argument("--config", type=Path, default=None, help="config whose detector to run (default: built-in)")
    n.add_argument("--every", type=int, default=1, help="run the detector on every N-th frame")
    n.add_argument("--val-fraction", type=float, default=0.2, help="share of each folder's clips kept for validation")
    n.set_defaults(func=run_identity_negatives)
    s = tsub.add_parser("sam2", help="train SAM2 to segment and track balls: image-level, then tracking stage")
    s.add_argument("--clips", type=Path, required=True, help="'simulate' output or a 'train sam2-pack' directory")
    s.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt, {'model': state_dict})")
    s.add_argument("--config", default="configs/sam2.1/sam2.1_hiera_t.yaml", help="official SAM2 config name")
    s.add_argument("--image-size", type=int, default=512, help="model input size (a ball needs >= 512 px)")
    s.add_argument(
        "--size",
        choices=["slim", "small", "full"],
        default="slim",
        help="slim: the bundled CPU model (default); small: reduced hiera-tiny as in tests; full: the config as is",
    )
    s.add_argument("--num-maskmem", type=int, default=4, help="memory frames (cond + recent); SAM2.1 uses 7")
    s.add_argument("--init", type=Path, default=None, help="SAM2.1 checkpoint to fine-tune (default: random init)")
    s.add_argument("--resume", action="store_true", help="go on from --out: the tracking stage, memory kept")
    s.add_argument("--image-seconds", type=float, default=1800.0, help="time budget of the image-level stage")
    s.add_argument("--track-seconds", type=float, default=3600.0, help="time budget of the tracking stage")
    s.add_argument("--images", type=int, default=4, help="images per image-level step")
    s.add_argument("--prompts", type=int, default=8, help="ball prompts per image")
    s.add_argument("--windows", type=int, default=2, help="clip windows per tracking step")
    s.add_argument("--objects", type=int, default=4, help="balls per window")
    s.add_argument("--frames", type=int, default=6, help="longest window (the stage grows 2 -> 4 -> this)")
    s.add_argument("--lr-image", type=float, default=1e-3)
    s.add_argument("--lr-track", type=float, default=3e-4)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu")
    s.add_argument("--eval-clips", type=Path, default=None, help="held-out clips: tracked IoU at every checkpoint")
    s.add_argument("--eval-every", type=float, default=600.0, help="seconds between held-out checks")
    s.set_defaults(func=run_sam2)
    k = tsub.add_parser("sam2-pack", help="clips at model size (H.264 + label maps) for 'train sam2' elsewhere")
    k.add_argument("--clips", type=Path, required=True, help="directory written by 'edge-detsam2 simulate'")
    k.add_argument("--out", type=Path, required=True, help="pack directory to write")
    k.add_argument("--image-size", type=int, default=512)
    k.set_defaults(func=run_sam2_pack)


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
        init=args.init,
    )
    print(json.dumps({k: recipe[k] for k in ("val_accuracy", "train_seconds", "train_crops")}, indent=1))
    return 0


def run_identity_negatives(args: argparse.Namespace) -> int:
    from edge_detsam2.config import AppConfig, load_config
    from edge_detsam2.perception.backends import build_detector
    from edge_detsam2.training.identity import mine_negatives

    if args.every < 1 or not 0 <= args.val_fraction < 1:
        raise UsageError("--every must be >= 1 and --val-fraction in [0, 1)")
    cfg = load_config(args.config) if args.config is not None else AppConfig()
    detector = build_detector(cfg.perception, cfg.export)
    detector = getattr(detector, "detector", detector)  # the detector's own boxes, none rejected
    counts = mine_negatives(
        args.clips,
        args.out,
        detector,
        every=args.every,
        val_fraction=args.val_fraction,
        ball_class=cfg.perception.detector.ball_class,
    )
    print(json.dumps(counts, indent=1))
    return 0


def run_sam2(args: argparse.Namespace) -> int:
    import sys

    from edge_detsam2.tracker.model import ModelSpec, build_model, slim_overrides, small_overrides
    from edge_detsam2.training.sam2 import Curriculum, load_clips, train_curriculum

    if min(args.images, args.prompts, args.windows, args.objects) < 1 or args.frames < 2:
        raise UsageError("--images, --prompts, --windows, --objects >= 1 and --frames >= 2")
    if args.image_size % 32:
        raise UsageError("--image-size must be a multiple of 32")
    if args.resume and not args.out.is_file():
        raise UsageError(f"--resume: {args.out} does not exist; start without --resume")
    if args.size == "full":
        overrides: tuple[str, ...] = (f"++model.image_size={args.image_size}",)
    elif args.size == "small":
        overrides = small_overrides(args.image_size)
    else:
        overrides = slim_overrides(args.image_size)
    overrides = (*overrides, f"++model.num_maskmem={args.num_maskmem}")  # last override wins
    init = args.out if args.resume else args.init
    model = build_model(ModelSpec(args.config, init, overrides, args.device))
    clips = load_clips(args.clips, args.image_size)
    evals = load_clips(args.eval_clips, args.image_size) if args.eval_clips else None
    plan = Curriculum(
        image_seconds=args.image_seconds,
        track_seconds=args.track_seconds,
        images_per_step=args.images,
        prompts_per_image=args.prompts,
        windows_per_step=args.windows,
        objects_per_window=args.objects,
        max_frames=args.frames,
        image_lr=args.lr_image,
        track_lr=args.lr_track,
        seed=args.seed,
    )
    recipe_path = args.out.with_suffix(".json")
    previous = json.loads(recipe_path.read_text()) if args.resume and recipe_path.is_file() else {}
    plan.history = list(previous.get("history", []))
    result = train_curriculum(
        model,
        clips,
        plan,
        args.out,
        device=args.device,
        eval_clips=evals,
        eval_every_s=args.eval_every,
        stages=("track",) if args.resume else ("image", "track"),
        zero_init=init is None,
    )
    recipe = {
        "command": " ".join(["edge-detsam2", *sys.argv[1:]]),
        "clips": str(args.clips),
        "config": args.config,
        "overrides": list(overrides),
        "init": str(init) if init else None,
        "seed": args.seed,
        "sittings": [*previous.get("sittings", []), result["stages"]],
        "history": plan.history,
    }
    recipe_path.write_text(json.dumps(recipe, indent=1) + "\n")
    print(json.dumps({"out": str(args.out), "stages": result["stages"]}, indent=1))
    return 0


def run_sam2_pack(args: argparse.Namespace) -> int:
    from edge_detsam2.training.sam2 import load_clip, write_pack

    manifest = args.clips / "manifest.json"
    if not manifest.is_file():
        raise UsageError(f"--clips {args.clips}: no manifest.json; make clips with: edge-detsam2 simulate {args.clips}")
    names = [c["clip"] for c in json.loads(manifest.read_text())["clips"]]
    for i, name in enumerate(names, 1):
        write_pack(load_clip(args.clips, name, args.image_size), args.out)
        print(f"sam2-pack: {i}/{len(names)} {name}", flush=True)
    return 0
