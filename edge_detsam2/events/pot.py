"""Pots: a ball vanishes inside a pocket zone and does not come back within a confirmation window."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.events.params import EventParams
from edge_detsam2.geometry.table import Pocket, TableGeometry
from edge_detsam2.kinematics import BallTrack

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class PotCandidate:
    track_id: str
    label: str
    pocket: Pocket
    t_s: float  # when the ball entered the pocket zone (estimated)
    last_seen_s: float
    xy_m: F64
    speed_mps: float


def pot_candidate(
    track: BallTrack,
    t_now: float,
    table: TableGeometry,
    params: EventParams,
    kick: tuple[float, F64] | None = None,
) -> PotCandidate | None:
    """If ``track`` went missing at a pocket, where and when it dropped.

    ``kick`` (time, velocity change) is a collision the ball had while unseen, known from the
    other ball's impulse (equal masses: it gained what the other lost); its path bends there.
    """
    fit = track.fit(track.last_t - params.window_s, track.last_t)
    xy = track.last_xy
    vel = fit.velocity if fit is not None else _step(track, params.pot_confirm_s)
    gap = min(t_now - track.last_t, params.pot_confirm_s)
    t_kick, dv = kick if kick is not None and kick[0] > track.last_t else (np.inf, np.zeros(2))

    def at(dt: float) -> tuple[F64, F64]:
        if track.last_t + dt <= t_kick:
            return xy + vel * dt, vel
        v = vel + dv
        return xy + vel * (t_kick - track.last_t) + v * (track.last_t + dt - t_kick), v

    found = _zone_on_path(at, gap, table, params)
    if found is None:
        return None
    pocket, dt = found
    p, v = at(dt)
    t_drop = _dropped(track, pocket, at, 2 * params.pot_confirm_s, track.last_t + dt)
    return PotCandidate(track.id, track.label, pocket, t_drop, track.last_t, p, float(np.linalg.norm(v)))


def _step(track: BallTrack, max_gap_s: float) -> F64:
    """Velocity of a lone sighting (nothing else in the fit window): the step from the sighting
    before it, when that is at most ``max_gap_s`` earlier, else at rest.

    A fast ball the tracker loses for a few frames and sees once more on its way into a pocket
    (held-out clip 0: the cue ball unseen for 0.17 s, then seen 0.09 m from the pocket) has
    moved that far in that time; taken at rest, its path ends outside the pocket zone.
    """
    ts, ps = track.window(-np.inf, track.last_t)
    if len(ts) < 2 or not 0 < ts[-1] - ts[-2] <= max_gap_s:
        return np.zeros(2)
    return np.asarray((ps[-1] - ps[-2]) / (ts[-1] - ts[-2]), dtype=np.float64)


def _zone_on_path(
    at: Callable[[float], tuple[F64, F64]], span_s: float, table: TableGeometry, params: EventParams
) -> tuple[Pocket, float] | None:
    """The first pocket zone on the path ``at`` within ``span_s`` of the last sighting, and when."""
    for k in range(11):
        dt = span_s * k / 10
        pocket, dist = table.nearest_pocket(at(dt)[0])
        if dist <= pocket.radius_m + params.pot_margin_m:
            return pocket, dt
    return None


def left_by_jump(track: BallTrack, t: float, xy: F64, table: TableGeometry, params: EventParams) -> bool:
    """Whether a sighting at (t, xy) is another ball: the track's path entered a pocket zone
    since its last sighting, and the ball could not have got from there to ``xy`` by ``t``.
    The ball dropped; its mask jumped on to a neighbour.

    Cushions and jaws only slow a ball, so from its last sighting it can go no further than
    its speed (the larger of the fit's and the last step's: a ball just hit has sped up)
    times the time since, plus a ball diameter of slack for the mask.
    """
    dt, moved = t - track.last_t, float(np.linalg.norm(xy - track.last_xy))
    if dt <= 0 or moved <= 2 * table.ball_radius_m:
        return False  # within the slack whatever the speed (most sightings): no fit needed
    ts, ps = track.window(track.last_t - params.window_s, track.last_t)
    fit = track.fit(track.last_t - params.window_s, track.last_t)
    if len(ts) < 2 or fit is None:
        return False
    step = float(np.linalg.norm(ps[-1] - ps[-2])) / max(float(ts[-1] - ts[-2]), 1e-9)
    if moved <= max(float(np.linalg.norm(fit.velocity)), step) * dt + 2 * table.ball_radius_m:
        return False
    vel = fit.velocity
    return _zone_on_path(lambda s: (track.last_xy + vel * s, vel), dt, table, params) is not None


def _dropped(
    track: BallTrack, pocket: Pocket, at: Callable[[float], tuple[F64, F64]], horizon_s: float, t_zone: float
) -> float:
    """When the ball's centre crossed the pocket's radius (it drops there).

    A mask that stays in the pocket after its ball dropped (the pocket's shadow, a ball in the
    jaws) is still seen inside the radius: the drop is where its sightings crossed in. Else
    the drop is where the path crosses in, within ``horizon_s``; a path that only grazes the
    radius drops where it entered the pocket zone (``t_zone``).
    """
    ts, ps = track.window(-np.inf, track.last_t)
    d = np.linalg.norm(ps - pocket.centre_m, axis=1) - pocket.radius_m
    if d[-1] <= 0:
        outside = np.flatnonzero(d > 0)
        if not len(outside):
            return float(ts[0])
        i = int(outside[-1])  # last sighting outside; i + 1 the first inside
        w = d[i] / (d[i] - d[i + 1])
        return float(ts[i] + w * (ts[i + 1] - ts[i]))
    prev = (0.0, float(d[-1]))
    for k in range(1, 31):
        dt = horizon_s * k / 30
        dist = float(np.linalg.norm(at(dt)[0] - pocket.centre_m)) - pocket.radius_m
        if dist <= 0:
            w = prev[1] / (prev[1] - dist)
            return track.last_t + prev[0] + w * (dt - prev[0])
        prev = (dt, dist)
    return t_zone
