"""``edge-detsam2 events --tracks T --table C [--out E] [--fps N]``: offline event detection."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edge_detsam2.errors import UsageError
from edge_detsam2.events.engine import EventEngine
from edge_detsam2.events.types import Event
from edge_detsam2.tracks import TrackFrame, read_tracks


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser(
        "events",
        help="detect events in a tracks JSONL file (offline replay)",
        description="Replay a tracks JSONL file through the streaming event engine; events JSONL to --out or stdout.",
    )
    p.add_argument("--tracks", type=Path, required=True, help="tracks JSONL (INTERFACES.md)")
    p.add_argument("--table", type=Path, required=True, help="table calibration file (YAML or JSON)")
    p.add_argument("--out", type=Path, default=None, help="events JSONL output (default: stdout)")
    p.add_argument("--fps", type=float, default=None, help="derive t from frame / fps instead of the file's t")
    p.add_argument("--config", type=Path, default=None, help="config file for events: thresholds and table.id")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.fps is not None and not 1.0 <= args.fps <= 1000.0:
        raise UsageError("--fps must be between 1 and 1000")
    if not args.tracks.is_file():
        raise UsageError(f"--tracks {args.tracks}: no such file")
    from edge_detsam2.config import AppConfig, load_config

    cfg = load_config(args.config) if args.config else AppConfig()
    # without --config the calibration's table_id names the table, else the config's table.id
    table_id = cfg.table.id if args.config is not None else None

    def engine_from(first_seq: int) -> EventEngine:
        return EventEngine.for_table(
            args.table, cfg.events, table_id=table_id, fallback_id=cfg.table.id, first_seq=first_seq
        )

    engine = engine_from(1)
    frames = read_tracks(args.tracks, runs=True)
    if args.fps is not None:
        frames = (TrackFrame(f.frame, f.frame / args.fps, f.objects) for f in frames)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
    n = runs = 0

    def emit(events: Iterable[Event]) -> None:
        nonlocal n
        for ev in events:
            out.write(ev.to_json() + "\n")
            out.flush()  # events are emitted as they happen; a reader can tail the file
            n += 1

    try:
        last = -1
        for fr in frames:
            if fr.frame <= last:  # the daemon restarted (it appends): the next run, fresh state
                emit(engine.flush())
                engine, runs = engine_from(engine.seq + 1), runs + 1
            last = fr.frame
            emit(engine.step(fr))
        emit(engine.flush())
    finally:
        if args.out:
            out.close()
    print(f"{n} events" + (f" in {runs + 1} runs" if runs else ""), file=sys.stderr)
    return 0
