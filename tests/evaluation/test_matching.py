from __future__ import annotations

import pytest

from edge_detsam2.evaluation.matching import score_events
from edge_detsam2.events.types import Event, EventType


def ev(
    t: float, etype: EventType = EventType.COLLISION, balls: tuple[str, ...] = ("cue_ball", "ball_1"), **kw: object
) -> Event:
    return Event(type=etype, t_s=t, frame=int(t * 30), balls=balls, **kw)  # type: ignore[arg-type]


def test_matches_within_tolerance_one_to_one() -> None:
    truth = [ev(1.0), ev(2.0)]
    pred = [ev(1.05), ev(1.06), ev(2.5)]
    s = score_events(pred, truth).by_type[EventType.COLLISION]
    # 1.05 matches 1.0; 1.06 is a duplicate within tolerance (merged); 2.5 is too late.
    assert (s.tp, s.fp, s.fn) == (1, 1, 1)
    assert s.dt_s == [pytest.approx(0.05)]


def test_closest_pairs_win() -> None:
    truth = [ev(1.0, balls=("ball_1", "ball_2")), ev(1.0, balls=("ball_2", "ball_3"))]
    pred = [ev(1.02, balls=("ball_3", "ball_2")), ev(1.09, balls=("ball_2", "ball_1"))]
    s = score_events(pred, truth).by_type[EventType.COLLISION]
    assert (s.tp, s.fp, s.fn) == (2, 0, 0)  # ball order does not matter


def test_key_includes_cushion_and_pocket() -> None:
    truth = [ev(1.0, EventType.REBOUND, ("ball_1",), cushion="top")]
    pred = [ev(1.0, EventType.REBOUND, ("ball_1",), cushion="left")]
    s = score_events(pred, truth).by_type[EventType.REBOUND]
    assert (s.tp, s.fp, s.fn) == (0, 1, 1)


def test_repeated_events_count_once_per_tolerance_window() -> None:
    truth = [ev(1.0), ev(1.004), ev(3.0)]  # a double contact 4 ms apart is one event
    s = score_events([ev(1.01), ev(3.01)], truth)
    assert s.by_type[EventType.COLLISION].f1 == 1.0
    assert s.macro_f1 == 1.0  # types with no events on either side count as perfect
