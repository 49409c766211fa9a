"""End-to-end events from video with the bundled models, scored against ground truth.

Runs the daemon pipeline (file source -> bundled YOLO -> bundled SAM2 -> event engine) on
every clip of a simulated directory never used for training or tuning, and prints per-type
precision, recall and F1 pooled over the clips, plus frames/s.

    .venv/bin/edge-detsam2 simulate /tmp/heldout --clips 3 --shots 2 --width 640 --height 360 --seed 900
    .venv/bin/python benchmarks/e2e_heldout.py /tmp/heldout --out benchmarks/results/e2e_heldout.json

``--keep DIR`` keeps each clip's tracks and events JSONL for diagnosis (replay the tracks
with ``edge-detsam2 events``); ``--only clip_000`` runs one clip of the directory.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from edge_detsam2.config import load_config
from edge_detsam2.daemon.daemon import Daemon
from edge_detsam2.evaluation.matching import Score, score_events
from edge_detsam2.events.types import read_events_jsonl


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("clips", type=Path)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--config", type=Path, default=Path("configs/default.yaml"), help="the settings under test")
    p.add_argument("--keep", type=Path, default=None, help="keep each clip's tracks and events JSONL here")
    p.add_argument("--only", nargs="*", default=None, help="run only these clips (names in manifest.json)")
    args = p.parse_args()
    names = [c["clip"] for c in json.loads((args.clips / "manifest.json").read_text())["clips"]]
    total = Score()
    frames = 0
    seconds = 0.0
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            print(f"--only: {', '.join(unknown)} not in {args.clips / 'manifest.json'}; use: {' '.join(names)}")
            return 2
        names = [n for n in names if n in args.only]
    work = args.keep or Path(tempfile.mkdtemp(prefix="e2e-"))
    work.mkdir(parents=True, exist_ok=True)
    per_clip = {}
    for name in names:
        base = load_config(args.config)  # the shipped settings, as run and the demo use them
        out = work / f"{name}.events.jsonl"
        cfg = base.model_copy(
            update={
                "table": base.table.model_copy(update={"calibration": args.clips / f"{name}.table.yaml"}),
                "source": base.source.model_copy(update={"uri": str(args.clips / f"{name}.mp4")}),
                "mqtt": base.mqtt.model_copy(update={"enabled": False}),
                "outputs": base.outputs.model_copy(
                    update={"events_jsonl": out, "tracks_jsonl": work / f"{name}.tracks.jsonl"}
                ),
                "daemon": base.daemon.model_copy(update={"state_dir": work / name}),
            }
        )
        t0 = time.monotonic()
        daemon = Daemon(cfg)
        daemon.run()
        seconds += time.monotonic() - t0
        frames += daemon.frames
        pred = read_events_jsonl(str(out)) if out.exists() else []
        truth = read_events_jsonl(str(args.clips / f"{name}.events.jsonl"))
        score = score_events(pred, truth)
        per_clip[name] = score.to_dict()
        total.add(score)
        print(f"{name}: {len(pred)} events predicted, {len(truth)} true, macro-F1 {score.macro_f1:.3f}", flush=True)
    result = {
        "clips": str(args.clips),
        "frames": frames,
        "fps": frames / seconds,
        **total.to_dict(),
        "per_clip": per_clip,
    }
    print(json.dumps({k: v for k, v in result.items() if k != "per_clip"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
