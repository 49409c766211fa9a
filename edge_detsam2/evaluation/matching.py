"""Time-aware, one-to-one matching of predicted events to ground-truth events.

Two events can match when they have the same type and the same key: the same set of
balls, and for rebounds the same cushion, for pots the same pocket. Among candidate pairs
within the type's time tolerance, the closest in time are matched first; each event
matches at most once. Events with the same key closer together than the tolerance are one
event (a camera cannot separate them), on both sides.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from edge_detsam2.events.types import Event, EventType

DEFAULT_TOLERANCE_S = {
    EventType.SHOT: 0.1,
    EventType.COLLISION: 0.1,
    EventType.REBOUND: 0.1,
    EventType.POT: 0.15,
    EventType.SHOT_END: 0.6,
}


def event_key(ev: Event) -> tuple[object, ...]:
    return (ev.type, frozenset(ev.balls), ev.cushion, ev.pocket)


def merge_close(events: Iterable[Event], tolerance_s: dict[EventType, float]) -> list[Event]:
    """Drop events whose key repeats within the tolerance of the previous kept one."""
    kept: list[Event] = []
    last: dict[tuple[object, ...], float] = {}
    for ev in sorted(events, key=lambda e: e.t_s):
        k = event_key(ev)
        if k in last and ev.t_s - last[k] <= tolerance_s[ev.type]:
            continue
        last[k] = ev.t_s
        kept.append(ev)
    return kept


@dataclass
class TypeScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    dt_s: list[float] = field(default_factory=list)  # pred - truth of each match

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def mean_abs_dt_s(self) -> float:
        return sum(abs(d) for d in self.dt_s) / len(self.dt_s) if self.dt_s else 0.0

    def add(self, other: TypeScore) -> None:
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.dt_s += other.dt_s


@dataclass
class Score:
    """Per-type scores plus shot summaries; ``macro_f1`` averages F1 over the five types."""

    by_type: dict[EventType, TypeScore] = field(default_factory=lambda: {t: TypeScore() for t in EventType})
    summaries_matched: int = 0
    summaries_correct: int = 0

    @property
    def macro_f1(self) -> float:
        return sum(s.f1 for s in self.by_type.values()) / len(self.by_type)

    @property
    def mean_abs_dt_s(self) -> float:
        dts = [abs(d) for s in self.by_type.values() for d in s.dt_s]
        return sum(dts) / len(dts) if dts else 0.0

    def add(self, other: Score) -> None:
        for t, s in other.by_type.items():
            self.by_type[t].add(s)
        self.summaries_matched += other.summaries_matched
        self.summaries_correct += other.summaries_correct

    def to_dict(self) -> dict[str, object]:
        return {
            "macro_f1": round(self.macro_f1, 4),
            "mean_abs_dt_s": round(self.mean_abs_dt_s, 4),
            "summary_accuracy": round(self.summaries_correct / self.summaries_matched, 4)
            if self.summaries_matched
            else None,
            "types": {
                t.value: {
                    "tp": s.tp,
                    "fp": s.fp,
                    "fn": s.fn,
                    "precision": round(s.precision, 4),
                    "recall": round(s.recall, 4),
                    "f1": round(s.f1, 4),
                    "mean_abs_dt_s": round(s.mean_abs_dt_s, 4),
                }
                for t, s in self.by_type.items()
            },
        }


def score_events(
    predicted: Sequence[Event], truth: Sequence[Event], tolerance_s: dict[EventType, float] | None = None
) -> Score:
    """Match and score one clip's events."""
    tol = tolerance_s or DEFAULT_TOLERANCE_S
    pred, gt = merge_close(predicted, tol), merge_close(truth, tol)
    score = Score()
    pairs = []
    for i, g in enumerate(gt):
        for j, p in enumerate(pred):
            if event_key(g) == event_key(p) and abs(p.t_s - g.t_s) <= tol[g.type]:
                pairs.append((abs(p.t_s - g.t_s), i, j))
    used_g, used_p = set(), set()
    for _, i, j in sorted(pairs):
        if i in used_g or j in used_p:
            continue
        used_g.add(i)
        used_p.add(j)
        g, p = gt[i], pred[j]
        s = score.by_type[g.type]
        s.tp += 1
        s.dt_s.append(p.t_s - g.t_s)
        if g.type is EventType.SHOT_END and g.summary and p.summary:
            score.summaries_matched += 1
            gs, ps = g.summary, p.summary
            same = (gs.first_contact, sorted(gs.potted), gs.scratch) == (
                ps.first_contact,
                sorted(ps.potted),
                ps.scratch,
            )
            score.summaries_correct += int(same)
    for i, g in enumerate(gt):
        if i not in used_g:
            score.by_type[g.type].fn += 1
    for j, p in enumerate(pred):
        if j not in used_p:
            score.by_type[p.type].fp += 1
    return score
