"""Degrade exact tracks the way a real tracker would: jitter, missed detections, dropouts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace

import numpy as np

from edge_detsam2.tracks import TrackFrame


@dataclass(frozen=True)
class Perturbation:
    """Per-object centre jitter (px, Gaussian sigma), per-frame miss probability, and dropouts
    (a track vanishes for ``dropout_frames`` frames, starting with probability ``dropout_rate``
    per track and frame)."""

    jitter_px: float = 0.0
    miss_rate: float = 0.0
    dropout_rate: float = 0.0
    dropout_frames: tuple[int, int] = (2, 5)
    seed: int = 0

    @property
    def active(self) -> bool:
        return self.jitter_px > 0 or self.miss_rate > 0 or self.dropout_rate > 0


def perturb(frames: Iterable[TrackFrame], p: Perturbation) -> Iterator[TrackFrame]:
    """Yield perturbed copies of ``frames`` (deterministic for ``p.seed``)."""
    rng = np.random.default_rng(p.seed)
    dropped_until: dict[str, int] = {}
    for fr in frames:
        objects = []
        for obj in fr.objects:
            if dropped_until.get(obj.id, -1) >= fr.frame:
                continue
            if p.dropout_rate and rng.random() < p.dropout_rate:
                dropped_until[obj.id] = fr.frame + int(rng.integers(p.dropout_frames[0], p.dropout_frames[1] + 1)) - 1
                continue
            if p.miss_rate and rng.random() < p.miss_rate:
                continue
            dx, dy = rng.normal(0.0, p.jitter_px, 2) if p.jitter_px else (0.0, 0.0)
            objects.append(replace(obj, cx=obj.cx + float(dx), cy=obj.cy + float(dy)))
        yield TrackFrame(fr.frame, fr.t_s, tuple(objects))
