"""The cue stick: approaches, draws back, strikes the cue ball, follows through, leaves."""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from edge_detsam2.geometry.homography import Homography

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

CUE_LENGTH_M = 1.45
TIP_HALF_WIDTH_M = 0.0065
BUTT_HALF_WIDTH_M = 0.015
#: (distance from tip in m, RGB) bands: chalked tip, ferrule, maple shaft, wrap, butt.
CUE_BANDS = (
    (0.012, (40, 80, 170)),
    (0.030, (235, 235, 225)),
    (0.95, (222, 190, 140)),
    (1.15, (30, 30, 30)),
    (CUE_LENGTH_M, (70, 34, 22)),
)

#: Keyframes of the tip's gap to the cue ball surface (m) vs time relative to contact (s).
_KEYS_T = np.array([-0.9, -0.35, -0.12, 0.0, 0.12, 0.5])
_KEYS_D = np.array([0.35, 0.04, 0.20, 0.0, -0.05, 0.45])


def tip_gap_m(t_rel_s: float) -> float | None:
    """Gap between cue tip and ball surface at t relative to contact; None when off-table."""
    if t_rel_s < _KEYS_T[0] or t_rel_s > _KEYS_T[-1]:
        return None
    return float(np.interp(t_rel_s, _KEYS_T, _KEYS_D))


def cue_alpha(
    homography: Homography,
    shape: tuple[int, int],
    ball_xy_m: F64,
    direction: F64,
    gap_m: float,
    ball_radius_m: float,
) -> tuple[F32, F32]:
    """Coverage (H, W) and colour (H, W, 3) of the stick for one frame."""
    h, w = shape
    alpha = np.zeros((h, w), dtype=np.uint8)
    colour = np.zeros((h, w, 3), dtype=np.float32)
    tip = ball_xy_m - direction * (ball_radius_m + gap_m)
    normal = np.array([-direction[1], direction[0]])
    start = 0.0
    for end, rgb in CUE_BANDS:
        band = np.zeros((h, w), dtype=np.uint8)
        quad = []
        for s, side in ((start, 1), (end, 1), (end, -1), (start, -1)):
            half = TIP_HALF_WIDTH_M + (BUTT_HALF_WIDTH_M - TIP_HALF_WIDTH_M) * s / CUE_LENGTH_M
            quad.append(tip - direction * s + side * normal * half)
        pts = homography.to_image(np.asarray(quad))
        cv2.fillConvexPoly(band, np.round(pts * 16).astype(np.int32), 255, cv2.LINE_AA, shift=4)
        colour[band > 0] = rgb
        alpha = np.maximum(alpha, band)
        start = end
    return alpha.astype(np.float32) / 255.0, colour
