"""Ball-ball collisions: an impulse on a ball in contact with another, along their centre line.

Unlike Det-SAM2's rule (relative velocity reversed), this catches follow-through and
glancing hits, and it never fires for balls rolling side by side: without contact
distance *and* an impulse along the normal there is no collision.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.events.impulses import Impulse
from edge_detsam2.events.params import EventParams
from edge_detsam2.kinematics import BallTrack

F64 = NDArray[np.float64]


def pre_state(track: BallTrack, t: float, window_s: float) -> tuple[F64, F64] | None:
    """Position and velocity at t from the motion just before t (or just after, if none).

    The fit starts after the ball's previous impulse, so a strike or contact a frame
    earlier does not bend the line.
    """
    start = max(t - window_s, track.last_impulse_t + 1e-6)
    fit = track.fit(start, t) or track.fit(t - window_s, t) or track.fit(t, t + window_s)
    if fit is None:
        return None
    return fit.at(t), fit.velocity


def positions_at(track: BallTrack, t: float, window_s: float) -> list[F64]:
    """Candidate positions at t: extrapolated pre-contact motion, and the chord between the
    observations around t (better when the ball itself changed direction just before)."""
    out = []
    state = pre_state(track, t, window_s)
    if state is not None:
        out.append(state[0])
    chord = track.interpolate(t, max_gap_s=window_s)
    if chord is not None:
        out.append(chord)
    return out


def collision_partners(
    imp: Impulse, tracks: Mapping[str, BallTrack], ball_radius_m: float, params: EventParams
) -> list[tuple[BallTrack, F64, F64]]:
    """Balls that pushed ``imp``'s ball: (track, their position, their velocity before)."""
    dv = imp.dv
    dv_norm = float(np.linalg.norm(dv))
    out = []
    for other in tracks.values():
        if other.id == imp.track_id or other.label == imp.label:
            continue  # two tracks of one name are one ball seen twice (a duplicate mask), not a pair
        if abs(other.last_t - imp.t_s) > params.retire_after_s:
            continue
        state = pre_state(other, imp.t_s, params.window_s)
        if state is None:
            continue
        for xy in positions_at(other, imp.t_s, params.window_s):
            offset = imp.xy_m - xy
            dist = float(np.linalg.norm(offset))
            if dist < ball_radius_m or dist > 2 * ball_radius_m + params.contact_tolerance_m:
                continue  # out of contact, or closer than two balls can be: one ball seen twice
            normal = offset / dist  # from the other ball towards this one
            if float(np.dot(dv, normal)) >= params.alignment * dv_norm:
                if _moving(imp, other, state[1], params) and _pushed(
                    imp, other, xy, state[1], tracks, ball_radius_m, params
                ):
                    out.append((other, xy, state[1]))
                break
    return out


def _moving(imp: Impulse, other: BallTrack, other_before: F64, params: EventParams) -> bool:
    """One of the pair moves at ``collision_min_speed_mps`` or more, before or after the contact.

    Two still balls side by side in a cluster whose masks jitter by a pixel show velocity
    changes of ~0.06 m/s that line up with their centre line; a contact that slow moves a ball
    under 3 mm a frame, within a tracker's mask noise.
    """
    after = other.fit(imp.t_s, imp.t_s + params.window_s)
    speeds = [imp.v_before, imp.v_after, other_before, after.velocity if after is not None else np.zeros(2)]
    return max(float(np.linalg.norm(v)) for v in speeds) >= params.collision_min_speed_mps


def _pushed(
    imp: Impulse,
    other: BallTrack,
    other_xy: F64,
    other_before: F64,
    tracks: Mapping[str, BallTrack],
    ball_radius_m: float,
    params: EventParams,
) -> bool:
    """A ball that slows on a contact gives its momentum away: to its partner, or through it
    (a Newton's cradle) to a ball the partner touches.

    A mask that jitters beside a still ball, or a ghost mask, slows against that ball and
    nothing moves. ``collision_transfer_mps`` is the speed below which a ball took nothing;
    a partner not seen after the contact (it shot away) is never doubted.
    """
    floor = params.collision_transfer_mps
    if floor <= 0 or np.linalg.norm(imp.v_after) >= np.linalg.norm(imp.v_before):
        return True  # off, or this ball was the one pushed
    window = (imp.t_s, imp.t_s + params.window_s)
    after = other.fit(*window)
    if after is None or max(float(np.linalg.norm(other_before)), float(np.linalg.norm(after.velocity))) >= floor:
        return True
    reach = 2 * ball_radius_m + params.contact_tolerance_m
    for third in tracks.values():
        if third.label in (imp.label, other.label):
            continue  # the two balls themselves, or a second mask of one of them
        fit = third.fit(*window)
        if (
            fit is not None
            and np.linalg.norm(fit.velocity) >= floor
            and np.linalg.norm(fit.at(imp.t_s) - other_xy) <= reach
        ):
            return True
    return False
