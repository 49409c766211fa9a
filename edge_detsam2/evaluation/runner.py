"""Run the event engine over a set of simulated clips and score it against their ground truth."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from edge_detsam2.errors import UsageError
from edge_detsam2.evaluation.matching import Score, score_events
from edge_detsam2.evaluation.perturb import Perturbation, perturb
from edge_detsam2.events.engine import EventEngine
from edge_detsam2.events.params import EventParams
from edge_detsam2.events.types import Event, read_events_jsonl
from edge_detsam2.geometry.calibration import load_calibration
from edge_detsam2.geometry.table import TableGeometry
from edge_detsam2.tracks import read_tracks


@dataclass(frozen=True)
class ClipFiles:
    name: str
    tracks: Path
    events: Path
    table: Path


def find_clips(directory: Path) -> list[ClipFiles]:
    """Clips in ``directory``: every ``X.tracks.jsonl`` with ``X.events.jsonl`` and ``X.table.yaml``."""
    if not directory.is_dir():
        raise UsageError(f"--clips {directory}: not a directory; run 'edge-detsam2 simulate {directory}' first")
    clips = []
    for tracks in sorted(directory.glob("*.tracks.jsonl")):
        name = tracks.name[: -len(".tracks.jsonl")]
        events, table = directory / f"{name}.events.jsonl", directory / f"{name}.table.yaml"
        if events.exists() and table.exists():
            clips.append(ClipFiles(name, tracks, events, table))
    if not clips:
        raise UsageError(f"--clips {directory}: no clips (*.tracks.jsonl + *.events.jsonl + *.table.yaml) found")
    return clips


def predict(clip: ClipFiles, params: EventParams, perturbation: Perturbation | None = None) -> list[Event]:
    """Events the engine finds in a clip's (optionally perturbed) tracks."""
    cal = load_calibration(clip.table)
    engine = EventEngine(TableGeometry.from_calibration(cal), params, table_id=cal.table_id or clip.name)
    frames = read_tracks(clip.tracks)
    if perturbation is not None and perturbation.active:
        # Each clip gets its own noise stream, reproducible from the perturbation seed.
        seed = perturbation.seed * 1_000_003 + zlib.crc32(clip.name.encode())
        frames = perturb(frames, replace(perturbation, seed=seed))
    return list(engine.run(frames))


def evaluate(
    clips: Sequence[ClipFiles], params: EventParams, perturbation: Perturbation | None = None
) -> tuple[Score, dict[str, Score]]:
    """Total score over all clips (events pooled) and the score of each clip."""
    total, per_clip = Score(), {}
    for clip in clips:
        s = score_events(predict(clip, params, perturbation), read_events_jsonl(str(clip.events)))
        per_clip[clip.name] = s
        total.add(s)
    return total, per_clip
