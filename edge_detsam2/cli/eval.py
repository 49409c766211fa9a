"""``edge-detsam2 eval``: score events against ground truth, with time-aware matching.

Two modes: ``--pred P --truth G`` scores one pair of events JSONL files; ``--clips DIR``
replays every simulated clip's tracks (optionally perturbed) through the engine and
scores all of them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edge_detsam2.errors import UsageError
from edge_detsam2.evaluation.matching import Score, score_events
from edge_detsam2.evaluation.perturb import Perturbation
from edge_detsam2.events.types import read_events_jsonl


def add_perturb_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("perturbation of the clips' exact tracks")
    g.add_argument("--jitter-px", type=float, default=0.0, help="centre jitter, Gaussian sigma in pixels")
    g.add_argument("--miss-rate", type=float, default=0.0, help="probability that a ball is missed in a frame")
    g.add_argument(
        "--dropout-rate", type=float, default=0.0, help="probability per ball and frame of a 2-5 frame dropout"
    )
    g.add_argument("--perturb-seed", type=int, default=0, help="seed of the perturbation")


def perturbation_from(args: argparse.Namespace) -> Perturbation:
    for flag, value in (
        ("--jitter-px", args.jitter_px),
        ("--miss-rate", args.miss_rate),
        ("--dropout-rate", args.dropout_rate),
    ):
        if value < 0 or (flag != "--jitter-px" and value >= 1):
            raise UsageError(f"{flag} must be >= 0" + ("" if flag == "--jitter-px" else " and < 1"))
    return Perturbation(args.jitter_px, args.miss_rate, args.dropout_rate, seed=args.perturb_seed)


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("eval", help="score events against ground truth (precision, recall, F1, timing)")
    p.add_argument("--pred", type=Path, help="predicted events JSONL (with --truth)")
    p.add_argument("--truth", type=Path, help="ground-truth events JSONL (with --pred)")
    p.add_argument("--clips", type=Path, help="directory of simulated clips: run the engine on each and score")
    p.add_argument("--config", type=Path, default=None, help="config file whose events: thresholds are used")
    p.add_argument("--json", type=Path, default=None, help="also write the scores as JSON here")
    add_perturb_args(p)
    p.set_defaults(func=run)


def format_score(score: Score, title: str) -> str:
    lines = [title, f"{'type':<10}{'P':>7}{'R':>7}{'F1':>7}{'TP':>6}{'FP':>6}{'FN':>6}{'|dt| ms':>9}"]
    for etype, s in score.by_type.items():
        lines.append(
            f"{etype.value:<10}{s.precision:>7.3f}{s.recall:>7.3f}{s.f1:>7.3f}{s.tp:>6}{s.fp:>6}{s.fn:>6}"
            f"{1000 * s.mean_abs_dt_s:>9.1f}"
        )
    lines.append(f"macro-F1 {score.macro_f1:.4f}   mean |dt| {1000 * score.mean_abs_dt_s:.1f} ms")
    if score.summaries_matched:
        lines.append(f"shot summaries correct: {score.summaries_correct}/{score.summaries_matched}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    pair = args.pred is not None or args.truth is not None
    if pair == (args.clips is not None) or (pair and (args.pred is None or args.truth is None)):
        raise UsageError("give either --pred FILE --truth FILE, or --clips DIR")
    if pair:
        score = score_events(read_events_jsonl(str(args.pred)), read_events_jsonl(str(args.truth)))
        print(format_score(score, f"{args.pred} vs {args.truth}"))
        report: dict[str, Any] = score.to_dict()
    else:
        from edge_detsam2.config import AppConfig, load_config
        from edge_detsam2.evaluation.runner import evaluate, find_clips

        params = (load_config(args.config) if args.config else AppConfig()).events
        pert = perturbation_from(args)
        clips = find_clips(args.clips)
        ev = evaluate(clips, params, pert)
        for name, s in ev.per_clip.items():
            print(f"{name}: macro-F1 {s.macro_f1:.4f}")
        tag = (
            f"jitter {pert.jitter_px} px, miss {pert.miss_rate}, dropout {pert.dropout_rate}"
            if pert.active
            else "exact tracks"
        )
        print(format_score(ev.total, f"{len(clips)} clips in {args.clips} ({tag})"))
        lat = ev.latency_summary()
        print(
            "emission latency (s, mean/p95/max): "
            + ", ".join(f"{k} {v['mean']:.3f}/{v['p95']:.3f}/{v['max']:.3f}" for k, v in lat.items())
        )
        report = {
            **ev.total.to_dict(),
            "latency_s": lat,
            "clips": {k: v.to_dict() for k, v in ev.per_clip.items()},
            "perturbation": {
                "jitter_px": pert.jitter_px,
                "miss_rate": pert.miss_rate,
                "dropout_rate": pert.dropout_rate,
                "seed": pert.seed,
            },
        }
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0
