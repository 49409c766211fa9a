"""Cushion rebounds: an impulse at a cushion that turns the ball's normal velocity around.

Contacts near a pocket mouth are jaw contacts (``jaw:<pocket id>``), whether the ball
meets the straight cushion end or the rounded jaw itself.
"""

from __future__ import annotations

import numpy as np

from edge_detsam2.events.impulses import Impulse
from edge_detsam2.events.params import EventParams
from edge_detsam2.geometry.table import TableGeometry


def rebound_cushion(imp: Impulse, table: TableGeometry, params: EventParams) -> str | None:
    """The cushion ``imp`` rebounded from, or None if it is not a cushion contact."""
    dv = imp.dv
    dv_norm = float(np.linalg.norm(dv))
    pocket, pocket_dist = table.nearest_pocket(imp.xy_m)
    near_jaw = pocket_dist <= pocket.radius_m + table.ball_radius_m + params.jaw_zone_m
    best: tuple[float, str] | None = None
    for rail in table.rails:
        gap = rail.distance(imp.xy_m) - table.ball_radius_m
        if gap > params.cushion_tolerance_m:
            continue
        towards = float(np.dot(imp.v_before, rail.normal))
        away = float(np.dot(imp.v_after, rail.normal))
        push = float(np.dot(dv, rail.normal))
        if towards < 0 < away and push >= params.alignment * dv_norm and (best is None or push > best[0]):
            best = (push, rail.name)
    if best is not None:
        return f"jaw:{pocket.id}" if _in_jaw(imp.xy_m, best[1], table, params) else best[1]
    if near_jaw:
        # Rounded jaw: the ball is pushed back out of the pocket mouth.
        outward = imp.xy_m - pocket.centre_m
        outward /= max(float(np.linalg.norm(outward)), 1e-9)
        # ... and must come back out: a ball that just stops on the lip did not rebound.
        if float(np.dot(dv, outward)) >= params.alignment * dv_norm and float(np.dot(imp.v_after, outward)) > 0:
            return f"jaw:{pocket.id}"
    return None


def _in_jaw(xy: np.ndarray, rail: str, table: TableGeometry, params: EventParams) -> bool:
    """Whether a contact with ``rail`` at ``xy`` is on a pocket's jaw rather than the straight cushion."""
    along, length = (xy[0], table.length_m) if rail in ("top", "bottom") else (xy[1], table.width_m)
    if min(along, length - along) <= params.corner_jaw_m:
        return True
    return rail in ("top", "bottom") and abs(along - length / 2) <= params.middle_jaw_m


def mirrored_rebound(
    ts: np.ndarray, ps: np.ndarray, table: TableGeometry, params: EventParams
) -> tuple[float, np.ndarray, str] | None:
    """A rebound between the last two of three sightings, too fast for the impulse scan (a
    ball at break speed meets a cushion and is a frame away from it again).

    The third sighting mirrored in a cushion's ball-centre line continues the first two in a
    straight line (cosine ``MIRROR_ALIGNMENT``) at 0.35–1.1 times their speed (a cushion takes
    speed and adds none; the margins cover the noise of speeds from two sightings), while the
    third sighting itself does not: the ball reflected off that cushion. Returns (time,
    position, cushion name) where the mirrored step crosses the line, named as
    ``rebound_cushion`` names it; None when that is in a pocket's mouth.
    """
    (t0, t1, t2), (p0, p1, p2) = ts, ps
    v = (p1 - p0) / (t1 - t0)
    speed = float(np.linalg.norm(v))
    if speed < params.mirror_min_speed_mps:
        return None
    d_direct = p2 - p1
    if float(np.dot(d_direct, v)) >= 0.9 * float(np.linalg.norm(d_direct)) * speed:
        return None  # straight on: no reflection
    R = table.ball_radius_m
    for rail in table.rails:
        h1 = rail.distance(p1) - R  # the ball centre's distance from the line it reflects at
        h2 = rail.distance(p2) - R
        if h1 < -params.cushion_tolerance_m or h2 < -params.cushion_tolerance_m:
            continue
        mirror = p2 - 2 * h2 * rail.normal
        step = mirror - p1
        dist = float(np.linalg.norm(step))
        if dist < 1e-9 or float(np.dot(step, v)) < MIRROR_ALIGNMENT * dist * speed:
            continue
        ratio = dist / (t2 - t1) / speed
        if not 0.35 <= ratio <= 1.1:
            continue
        f = h1 / max(h1 + h2, 1e-9)
        xy = p1 + f * step
        t = float(t1 + f * (t2 - t1))
        pocket, pocket_dist = table.nearest_pocket(xy)
        if pocket_dist <= pocket.radius_m + params.pot_margin_m:
            return None  # into the pocket's mouth, not off a cushion
        name = f"jaw:{pocket.id}" if _in_jaw(xy, rail.name, table, params) else rail.name
        return t, xy, name
    return None


#: Min cosine between the first two sightings' motion and the step to the mirrored third.
MIRROR_ALIGNMENT = 0.97
