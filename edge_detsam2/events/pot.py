"""Pots: a ball vanishes inside a pocket zone and does not come back within a confirmation window."""

from __future__ import annotations

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
    vel = fit.velocity if fit is not None else np.zeros(2)
    gap = min(t_now - track.last_t, params.pot_confirm_s)
    t_kick, dv = kick if kick is not None and kick[0] > track.last_t else (np.inf, np.zeros(2))
    # Sample the path from the last sighting to where it would be now, find a pocket on it.
    for k in range(11):
        dt = gap * k / 10
        if track.last_t + dt <= t_kick:
            p, v = xy + vel * dt, vel
        else:
            v = vel + dv
            p = xy + vel * (t_kick - track.last_t) + v * (track.last_t + dt - t_kick)
        pocket, dist = table.nearest_pocket(p)
        if dist <= pocket.radius_m + params.pot_margin_m:
            speed = float(np.linalg.norm(v))
            return PotCandidate(track.id, track.label, pocket, track.last_t + dt, track.last_t, p, speed)
    return None
