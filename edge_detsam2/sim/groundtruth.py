"""Ground-truth events from pooltool's event log, in the public event format.

pooltool event -> public event: stick_ball -> shot, ball_ball -> collision,
ball_linear_cushion / ball_circular_cushion -> rebound, ball_pocket -> pot, and a
shot_end with its summary when all balls rest. Contacts of the same kind between the
same agents less than ``MERGE_S`` apart are one event: the solver sometimes resolves one
physical contact in several steps microseconds apart, which no camera can separate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from edge_detsam2.events.types import Event, EventType, ShotSummary, utc_iso
from edge_detsam2.sim.physics import POCKET_IDS, PhysicsClip, SimulatedShot, ball_label, to_table_xy

MERGE_S = 0.005
#: Simulated clips pretend to start at this wall-clock time, so outputs are reproducible.
SIM_EPOCH_S = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def frame_of(t_s: float, fps: float) -> int:
    """First frame whose timestamp is at or after t (the first frame showing the event)."""
    return max(0, math.ceil(t_s * fps - 1e-9))


def _ball_agent_state(event: Any, i: int) -> tuple[np.ndarray, np.ndarray]:
    state = event.agents[i].initial.state
    return to_table_xy(state.rvw[0, :2]), to_table_xy(state.rvw[1, :2])


def _order_balls(labels: list[str]) -> tuple[str, ...]:
    """Cue ball first, then by number, so the same pair always reads the same."""
    return tuple(sorted(labels, key=lambda b: (b != "cue_ball", len(b), b)))


def shot_events(clip: PhysicsClip, shot: SimulatedShot) -> list[dict[str, object]]:
    """Raw (not yet numbered) public events of one shot, in time order."""
    out: list[dict[str, object]] = []
    for ev in shot.system.events:
        kind = str(ev.event_type)
        t = shot.strike_t_s + float(ev.time)
        ids = ev.ids
        if kind == "stick_ball":
            xy, _ = _ball_agent_state(ev, 1)
            v = to_table_xy(ev.agents[1].final.state.rvw[1, :2])
            out.append(dict(type=EventType.SHOT, t=t, balls=("cue_ball",), xy=xy, speed=np.hypot(*v)))
        elif kind == "ball_ball":
            (xa, va), (xb, vb) = _ball_agent_state(ev, 0), _ball_agent_state(ev, 1)
            balls = _order_balls([ball_label(ids[0]), ball_label(ids[1])])
            out.append(
                dict(
                    type=EventType.COLLISION,
                    t=t,
                    balls=balls,
                    xy=(xa + xb) / 2,
                    speed=np.hypot(*(va - vb)),
                )
            )
        elif kind in ("ball_linear_cushion", "ball_circular_cushion"):
            xy, v = _ball_agent_state(ev, 0)
            out.append(
                dict(
                    type=EventType.REBOUND,
                    t=t,
                    balls=(ball_label(ids[0]),),
                    xy=xy,
                    speed=np.hypot(*v),
                    cushion=clip.cushion_names[ids[1]],
                )
            )
        elif kind == "ball_pocket":
            xy, v = _ball_agent_state(ev, 0)
            out.append(
                dict(
                    type=EventType.POT,
                    t=t,
                    balls=(ball_label(ids[0]),),
                    xy=xy,
                    speed=np.hypot(*v),
                    pocket=POCKET_IDS[ids[1]],
                )
            )
    return _merge(out)


def rest_time(shot: SimulatedShot) -> float:
    """When the last ball stops translating, relative to the strike.

    This is when the table comes to rest as a camera sees it: a ball still spinning in
    place (pooltool's final spinning -> stationary transition) looks still.
    """
    last = 0.0
    for track in shot.tracks.values():
        for i, s in enumerate(track.states[:-1]):
            if s in (2, 3) and track.states[i + 1] not in (2, 3):  # sliding/rolling -> not
                last = max(last, float(track.times[i + 1]))
    return last


def _merge(raw: list[dict[str, object]]) -> list[dict[str, object]]:
    kept: list[dict[str, object]] = []
    last_t: dict[tuple[object, ...], float] = {}
    for ev in raw:
        key = (ev["type"], ev["balls"], ev.get("cushion"), ev.get("pocket"))
        t = float(ev["t"])  # type: ignore[arg-type]
        if key in last_t and t - last_t[key] < MERGE_S:
            continue
        last_t[key] = t
        kept.append(ev)
    return kept


def _summary(events: list[dict[str, object]], duration_s: float) -> ShotSummary:
    first = None
    for ev in events:
        if ev["type"] is EventType.COLLISION and "cue_ball" in ev["balls"]:  # type: ignore[operator]
            first = next(b for b in ev["balls"] if b != "cue_ball")  # type: ignore[attr-defined]
            break
    potted = tuple(ev["balls"][0] for ev in events if ev["type"] is EventType.POT)  # type: ignore[index]
    cushions = sum(1 for ev in events if ev["type"] is EventType.REBOUND)
    return ShotSummary(
        first_contact=first,
        potted=potted,
        cushions=cushions,
        scratch="cue_ball" in potted,
        duration_s=duration_s,
    )


def clip_events(clip: PhysicsClip, *, table_id: str, fps: float, id_prefix: str) -> list[Event]:
    """All ground-truth events of a clip, numbered with ``seq`` from 1."""
    events: list[Event] = []
    for shot in clip.shots:
        raw = shot_events(clip, shot)
        for ev in raw:
            events.append(_make(ev, table_id, fps, id_prefix, len(events) + 1))
        end_t = shot.strike_t_s + rest_time(shot)
        summary = _summary(raw, end_t - shot.strike_t_s)
        events.append(
            Event(
                type=EventType.SHOT_END,
                t_s=end_t,
                frame=frame_of(end_t, fps),
                balls=(),
                table=table_id,
                id=f"{id_prefix}-{len(events) + 1:05d}",
                seq=len(events) + 1,
                ts=utc_iso(SIM_EPOCH_S + end_t),
                summary=summary,
            )
        )
    return events


def _make(ev: dict[str, object], table_id: str, fps: float, id_prefix: str, seq: int) -> Event:
    t = float(ev["t"])  # type: ignore[arg-type]
    xy = ev["xy"]
    return Event(
        type=ev["type"],  # type: ignore[arg-type]
        t_s=t,
        frame=frame_of(t, fps),
        balls=ev["balls"],  # type: ignore[arg-type]
        table=table_id,
        id=f"{id_prefix}-{seq:05d}",
        seq=seq,
        ts=utc_iso(SIM_EPOCH_S + t),
        position_m=(float(xy[0]), float(xy[1])),  # type: ignore[index]
        speed_mps=float(ev["speed"]),  # type: ignore[arg-type]
        cushion=ev.get("cushion"),  # type: ignore[arg-type]
        pocket=ev.get("pocket"),  # type: ignore[arg-type]
    )
