"""``edge-detsam2 simulate OUTDIR``: synthetic clips with exact ground truth."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from edge_detsam2.errors import UsageError
from edge_detsam2.progress import Progress

logger = logging.getLogger(__name__)

LAYOUTS = ("mixed", "rack", "scatter")
SIZE_FACTORS = (0.75, 1.0, 1.5)


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "simulate",
        help="render synthetic clips from pooltool physics, with ground truth",
        description="Simulate shot sequences with pooltool and render them as an overhead "
        "camera would see them. Per clip: .mp4, .events.jsonl, .tracks.jsonl, .table.yaml, .masks.jsonl.",
    )
    p.add_argument("outdir", type=Path, help="output directory (created if missing)")
    p.add_argument("--clips", type=int, default=1, help="number of clips (default 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files (default 0)")
    p.add_argument("--shots", type=int, default=3, help="shots per clip (default 3)")
    p.add_argument("--width", type=int, default=1280, help="frame width in pixels (default 1280)")
    p.add_argument("--height", type=int, default=720, help="frame height in pixels (default 720)")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second (default 30)")
    p.add_argument("--ball-set", default="eightball", help="eightball (15 + cue) or nineball (9 + cue)")
    p.add_argument("--table-size", default="7ft", help="7ft, 8ft or 9ft (default 7ft)")
    p.add_argument("--layout", default="mixed", help="rack (break first), scatter, or mixed (alternating)")
    p.add_argument("--perspective", type=float, default=1.0, help="camera tilt/rotation scale, 0 = overhead")
    p.add_argument(
        "--vary-size",
        action="store_true",
        help="scale each clip's resolution by 0.75, 1 or 1.5 (seeded)",
    )
    p.add_argument(
        "--domain",
        default="wide",
        help="appearance randomisation: wide (cloths, lamps, pockets, ball sets, people, blur, JPEG; "
        "the sim-to-real domain) or narrow (the original green studio table)",
    )
    p.add_argument("--no-video", action="store_true", help="ground truth only (tracks, events, table): no rendering")
    p.add_argument("--yolo-dataset", type=Path, default=None, help="also write an ultralytics dataset here")
    p.add_argument(
        "--yolo-classes",
        default="identity",
        help="dataset classes: identity (16 balls + pocket) or ball (ball + pocket, for the bundled detector)",
    )
    p.add_argument("--crops", type=Path, default=None, help="also write identity-classifier crops here")
    p.add_argument(
        "--augment",
        action="store_true",
        help="dataset images get random lens distortion (boxes follow) and JPEG quality",
    )
    p.add_argument(
        "--yolo-every",
        type=int,
        default=10,
        help="sample every Nth frame for the dataset (default 10)",
    )
    p.set_defaults(func=run)


def _validate(args: argparse.Namespace) -> None:
    checks = [
        (args.clips >= 1, "--clips must be >= 1"),
        (1 <= args.shots <= 50, "--shots must be between 1 and 50"),
        (
            64 <= args.width <= 4096 and args.width % 2 == 0,
            "--width must be an even number of pixels in 64..4096",
        ),
        (
            64 <= args.height <= 4096 and args.height % 2 == 0,
            "--height must be an even number of pixels in 64..4096",
        ),
        (
            args.height < args.width,
            "--height must be smaller than --width (the table's long side is horizontal)",
        ),
        (1.0 <= args.fps <= 240.0, "--fps must be between 1 and 240"),
        (args.layout in LAYOUTS, f"--layout must be one of {', '.join(LAYOUTS)}"),
        (args.domain in ("wide", "narrow"), "--domain must be wide or narrow"),
        (0.0 <= args.perspective <= 3.0, "--perspective must be between 0 and 3"),
        (args.yolo_every >= 1, "--yolo-every must be >= 1"),
        (not (args.no_video and args.yolo_dataset), "--yolo-dataset needs rendered frames; drop --no-video"),
        (args.yolo_classes in ("identity", "ball"), "--yolo-classes must be identity or ball"),
        (args.crops is None or args.yolo_dataset is not None, "--crops samples the --yolo-dataset frames; add it"),
    ]
    for ok, msg in checks:
        if not ok:
            raise UsageError(msg)
    from edge_detsam2.sim.physics import BALL_SETS, TABLE_SIZES_M

    if args.ball_set not in BALL_SETS:
        raise UsageError(f"--ball-set {args.ball_set!r}: use one of {', '.join(BALL_SETS)}")
    if args.table_size not in TABLE_SIZES_M:
        raise UsageError(f"--table-size {args.table_size!r}: use one of {', '.join(TABLE_SIZES_M)}")


def _even(x: float) -> int:
    return round(x / 2) * 2


def run(args: argparse.Namespace) -> int:
    _validate(args)
    from edge_detsam2.sim.clip import ClipOptions, render_clip
    from edge_detsam2.sim.yolo_dataset import YoloDatasetWriter

    args.outdir.mkdir(parents=True, exist_ok=True)
    yolo = (
        YoloDatasetWriter(
            args.yolo_dataset, classes=args.yolo_classes, crops=args.crops, augment=args.augment, seed=args.seed
        )
        if args.yolo_dataset
        else None
    )
    n_val = max(1, round(args.clips * 0.2)) if args.clips > 1 else 0
    total_frames, total_s, manifest = 0, 0.0, []
    with Progress(args.clips, "simulate") as progress:
        for k in range(args.clips):
            seed = np.random.SeedSequence([args.seed, k])
            factor = SIZE_FACTORS[int(np.random.default_rng([args.seed, k, 1]).integers(3))] if args.vary_size else 1.0
            layout = args.layout if args.layout != "mixed" else ("rack" if k % 2 == 0 else "scatter")
            opts = ClipOptions(
                width=_even(args.width * factor),
                height=_even(args.height * factor),
                fps=args.fps,
                shots=args.shots,
                ball_set=args.ball_set,
                table_size=args.table_size,
                layout=layout,
                perspective=args.perspective,
                yolo_every=args.yolo_every,
                video=not args.no_video,
                domain=args.domain,
            )
            name = f"clip_{k:03d}"
            split = ("val" if k >= args.clips - n_val else "train") if n_val else ("val" if k % 5 == 4 else "train")
            res = render_clip(args.outdir, name, seed, opts, (yolo, split) if yolo else None)
            total_frames += res.frames
            total_s += res.render_s
            fps = res.frames / max(res.render_s, 1e-9)
            print(
                f"{name}: {res.frames} frames, {res.events} events, {opts.width}x{opts.height}@{opts.fps:g}, "
                f"layout={layout}, rendered at {fps:.1f} frames/s"
            )
            manifest.append(
                {
                    "clip": name,
                    "frames": res.frames,
                    "events": res.events,
                    "width": opts.width,
                    "height": opts.height,
                    "fps": opts.fps,
                    "layout": layout,
                    "split": split,
                }
            )
            progress.update()
    if yolo is not None:
        data_yaml = yolo.finish()
        print(f"yolo dataset: {data_yaml} ({yolo.counts['train']} train, {yolo.counts['val']} val images)")
        if args.crops is not None:
            print(f"identity crops: {args.crops} ({yolo.crop_counts['train']} train, {yolo.crop_counts['val']} val)")
    (args.outdir / "manifest.json").write_text(json.dumps({"seed": args.seed, "clips": manifest}, indent=1) + "\n")
    rate = total_frames / max(total_s, 1e-9)
    print(f"rendered {total_frames} frames in {total_s:.1f} s ({rate:.1f} frames/s)")
    return 0
