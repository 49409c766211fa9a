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
