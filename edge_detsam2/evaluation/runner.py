"""Run the event engine over a set of simulated clips and score it against their ground truth."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from edge_detsam2.errors import UsageError
from edge_detsam2.evaluation.matching import Score, score_events
from edge_detsam2.evaluation.perturb import Perturbation, perturb
from edge_detsam2.events.engine import EventEngine
from edge_detsam2.events.params import EventParams
from edge_detsam2.events.types import Event, EventType, read_events_jsonl
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


@dataclass(frozen=True)
class Prediction:
    """An event and the stream time at which the engine emitted it."""

    event: Event
    emitted_t_s: float

    @property
    def latency_s(self) -> float:
        return self.emitted_t_s - self.event.t_s


def predict_timed(clip: ClipFiles, params: EventParams, perturbation: Perturbation | None = None) -> list[Prediction]:
    """Events the engine finds in a clip's (optionally perturbed) tracks, with emission times."""
    engine = EventEngine.for_table(clip.table, params, fallback_id=clip.name)
    frames = read_tracks(clip.tracks)
    if perturbation is not None and perturbation.active:
        # Each clip gets its own noise stream, reproducible from the perturbation seed.
        seed = perturbation.seed * 1_000_003 + zlib.crc32(clip.name.encode())
        frames = perturb(frames, replace(perturbation, seed=seed))
    out, t = [], 0.0
    for fr in frames:
        t = fr.t_s
        out += [Prediction(ev, t) for ev in engine.step(fr)]
    out += [Prediction(ev, t) for ev in engine.flush()]
    return out


def predict(clip: ClipFiles, params: EventParams, perturbation: Perturbation | None = None) -> list[Event]:
    """Events the engine finds in a clip's (optionally perturbed) tracks."""
    return [p.event for p in predict_timed(clip, params, perturbation)]


@dataclass
class Evaluation:
    """Pooled score, per-clip scores, and emission latencies (s) per event type."""

    total: Score
    per_clip: dict[str, Score]
    latency_s: dict[str, list[float]]

    def latency_summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for etype, values in self.latency_s.items():
            if values:
                arr = np.asarray(values)
                out[etype] = {
                    "mean": round(float(arr.mean()), 4),
                    "p95": round(float(np.percentile(arr, 95)), 4),
                    "max": round(float(arr.max()), 4),
                }
        return out


def evaluate(clips: Sequence[ClipFiles], params: EventParams, perturbation: Perturbation | None = None) -> Evaluation:
    """Run the engine on every clip and score it against the clip's ground truth."""
    total, per_clip = Score(), {}
    latency: dict[str, list[float]] = {t.value: [] for t in EventType}
    for clip in clips:
        preds = predict_timed(clip, params, perturbation)
        s = score_events([p.event for p in preds], read_events_jsonl(str(clip.events)))
        per_clip[clip.name] = s
        total.add(s)
        for p in preds:
            latency[p.event.type.value].append(p.latency_s)
    return Evaluation(total, per_clip, latency)
