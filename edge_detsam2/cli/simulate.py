"""``edge-detsam2 simulate OUTDIR``: synthetic clips with exact ground truth."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edge_detsam2.progress import Progress
from edge_detsam2.sim.batch import SimulateOptions, simulate_clips


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
    p.add_argument(
        "--yolo-fast",
        action="store_true",
        help="also sample every frame in which a ball moves so fast it is a motion streak (breaks)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    opts = SimulateOptions(
        clips=args.clips,
        seed=args.seed,
        shots=args.shots,
        width=args.width,
        height=args.height,
        fps=args.fps,
        ball_set=args.ball_set,
        table_size=args.table_size,
        layout=args.layout,
        perspective=args.perspective,
        vary_size=args.vary_size,
        domain=args.domain,
        video=not args.no_video,
        yolo_dataset=args.yolo_dataset,
        yolo_classes=args.yolo_classes,
        crops=args.crops,
        augment=args.augment,
        yolo_every=args.yolo_every,
        yolo_fast=args.yolo_fast,
    )
    opts.validate()
    with Progress(opts.clips, "simulate") as progress:

        def report(clip: dict[str, Any], fps: float) -> None:
            print(
                f"{clip['clip']}: {clip['frames']} frames, {clip['events']} events, "
                f"{clip['width']}x{clip['height']}@{clip['fps']:g}, layout={clip['layout']}, "
                f"rendered at {fps:.1f} frames/s"
            )
            progress.update()

        res = simulate_clips(args.outdir, opts, report)
    if res.data_yaml is not None:
        print(
            f"yolo dataset: {res.data_yaml} "
            f"({res.dataset_counts['train']} train, {res.dataset_counts['val']} val images)"
        )
        if args.crops is not None:
            print(f"identity crops: {args.crops} ({res.crop_counts['train']} train, {res.crop_counts['val']} val)")
    rate = res.frames / max(res.render_s, 1e-9)
    print(f"rendered {res.frames} frames in {res.render_s:.1f} s ({rate:.1f} frames/s)")
    return 0
