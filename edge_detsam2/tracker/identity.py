"""A track's identity is voted over its observations, never taken from one detection.

Det-SAM2 names an object after the class of the detection that prompted it, so one wrong
detection renames a ball for good. Here every detection matched to a track adds its
evidence (the identity classifier's probabilities, or its class score for a detector that
names classes itself); the track's label is the leader of the vote, and it changes only
when another label leads by more than ``switch_margin`` (one confident detection is worth
at most 1). Old votes fade (``decay`` per new observation of the track): when SAM2 lets a
mask slip onto another ball, the detections of that ball rename the track after a few
observations instead of never, while one or two wrong detections still cannot. With
``unique`` (a ball set has one ball of each identity) tracks are assigned labels jointly so
two live tracks do not carry the same name.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np

logger = logging.getLogger(__name__)


class IdentityVotes:
    """Per-track vote tallies and current labels; ``changes`` counts renames of live tracks."""

    def __init__(self, *, switch_margin: float = 1.5, unique: bool = True, decay: float = 1.0) -> None:
        self.switch_margin, self.unique, self.decay = switch_margin, unique, decay
        self._votes: dict[int, dict[str, float]] = {}
        self.labels: dict[int, str] = {}
        self.changes = 0

    def observe(self, obj_id: int, evidence: dict[str, float]) -> None:
        """Add one detection's evidence (label -> weight in [0, 1]) to track ``obj_id``."""
        tally = self._votes.setdefault(obj_id, defaultdict(float))
        if self.decay < 1.0:
            for label in tally:
                tally[label] *= self.decay
        for label, w in evidence.items():
            tally[label] += float(w)
        if obj_id not in self.labels and tally:
            # A new track does not take a name another live track holds (unique): the vote may
            # give it that name later, by the switch margin, if the evidence keeps saying so.
            held = set(self.labels.values()) if self.unique else set()
            free = {lb: w for lb, w in tally.items() if lb not in held} or tally
            self.labels[obj_id] = max(free, key=free.__getitem__)

    def swap(self, a: int, b: int) -> None:
        """Exchange two tracks' tallies and labels (their masks swapped balls); counted as two renames."""
        va, vb = self._votes.get(a, defaultdict(float)), self._votes.get(b, defaultdict(float))
        self._votes[a], self._votes[b] = vb, va
        la, lb = self.labels.get(a), self.labels.get(b)
        logger.info("tracks %d and %d swapped names (%s <-> %s)", a, b, la, lb)
        for obj_id, label in ((a, lb), (b, la)):
            if label is None:
                self.labels.pop(obj_id, None)
            else:
                self.labels[obj_id] = label
        self.changes += 2

    def forget(self, obj_id: int) -> None:
        self._votes.pop(obj_id, None)
        self.labels.pop(obj_id, None)

    def decide(self) -> dict[int, str]:
        """Re-decide every track's label from its tally; returns the labels that changed."""
        wanted = self._joint() if self.unique else {o: max(v, key=v.__getitem__) for o, v in self._votes.items() if v}
        changed = {}
        for obj_id, label in wanted.items():
            current = self.labels.get(obj_id)
            tally = self._votes[obj_id]
            if current is None:
                self.labels[obj_id] = label
            elif label != current and tally[label] > tally.get(current, 0.0) + self.switch_margin:
                logger.info(
                    "track %d renamed %s -> %s (votes %.1f vs %.1f)",
                    obj_id,
                    current,
                    label,
                    tally[label],
                    tally.get(current, 0.0),
                )
                self.labels[obj_id] = label
                self.changes += 1
                changed[obj_id] = label
        return changed

    def _joint(self) -> dict[int, str]:
        """Labels maximising the total vote with each label used at most once (Hungarian)."""
        from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

        ids = [o for o, v in self._votes.items() if v]
        names = sorted({lb for o in ids for lb in self._votes[o]})
        if not ids:
            return {}
        score = np.array([[self._votes[o].get(lb, 0.0) for lb in names] for o in ids])
        rows, cols = linear_sum_assignment(-score)
        out = {ids[r]: names[c] for r, c in zip(rows, cols, strict=True)}
        for o in ids:  # more tracks than names: the rest keep their own leader
            out.setdefault(o, max(self._votes[o], key=self._votes[o].__getitem__))
        return out


def evidence_of(label: str, score: float, probs: np.ndarray | None, names: tuple[str, ...]) -> dict[str, float]:
    """One detection's vote: the classifier's probabilities, else its class at its score."""
    if probs is not None and len(names) and float(probs.sum()) > 0:
        return {n: float(p) for n, p in zip(names, probs, strict=True) if p > 1e-3}
    return {label: float(score)}
