"""Static table background: felt, cushions, rails, pockets, diamonds, overhead lighting.

Drawn once per clip top-down in table metres, then warped through the camera homography.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from edge_detsam2.sim.camera import RAIL_M, CameraModel

F32 = NDArray[np.float32]

FELT_COLOURS_RGB = (
    (34, 112, 58),  # tournament green
    (28, 84, 146),  # tournament blue
    (118, 36, 44),  # burgundy
    (86, 92, 98),  # grey
    (22, 104, 108),  # teal
)
CUSHION_M = 0.045
DIAMOND_RADIUS_M = 0.007


def pick_felt(rng: np.random.Generator) -> tuple[float, float, float]:
    base = np.array(FELT_COLOURS_RGB[int(rng.integers(len(FELT_COLOURS_RGB)))], dtype=np.float64)
    jitter = rng.uniform(0.9, 1.1, 3)
    return tuple(float(c) for c in np.clip(base * jitter, 0, 255))  # type: ignore[return-value]


def render_background(
    rng: np.random.Generator,
    camera: CameraModel,
    *,
    length_m: float,
    width_m: float,
    pockets_m: dict[str, tuple[tuple[float, float], float]],
    felt_rgb: tuple[float, float, float],
) -> F32:
    """Float32 RGB image (H, W, 3) in [0, 255] of the empty table as the camera sees it."""
    ppm = float(np.max(camera.homography.pixels_per_metre(np.array([[length_m / 2, width_m / 2]])))) * 1.3
    tw = int(np.ceil((length_m + 2 * RAIL_M) * ppm))
    th = int(np.ceil((width_m + 2 * RAIL_M) * ppm))

    def px(x: float, y: float) -> tuple[int, int]:
        return round((x + RAIL_M) * ppm), round((y + RAIL_M) * ppm)

    td = np.empty((th, tw, 3), dtype=np.float32)
    wood = np.array([92, 52, 28], dtype=np.float32)
    grain = rng.normal(0, 1, (th, 1)).astype(np.float32).repeat(tw, 1) * 6
    td[:] = wood + grain[..., None]
    felt = np.array(felt_rgb, dtype=np.float32)
    cushion = felt * 0.82
    cv2.rectangle(
        td,
        px(-CUSHION_M, -CUSHION_M),
        px(length_m + CUSHION_M, width_m + CUSHION_M),
        cushion.tolist(),
        -1,
    )
    cv2.rectangle(td, px(0, 0), px(length_m, width_m), felt.tolist(), -1)
    nap = rng.normal(0, 2.0, (th, tw, 1)).astype(np.float32)
    td += nap
    for (x, y), r in pockets_m.values():
        cv2.circle(td, px(x, y), round(r * ppm), (14, 14, 14), -1, cv2.LINE_AA)
        cv2.circle(td, px(x, y), round(r * 0.7 * ppm), (4, 4, 4), -1, cv2.LINE_AA)
    rail_mid = CUSHION_M + (RAIL_M - CUSHION_M) / 2
    for k in (1, 2, 3, 5, 6, 7):
        for y in (-rail_mid, width_m + rail_mid):
            cv2.circle(
                td,
                px(k * length_m / 8, y),
                max(1, int(DIAMOND_RADIUS_M * ppm)),
                (230, 225, 205),
                -1,
                cv2.LINE_AA,
            )
    for k in (1, 2, 3):
        for x in (-rail_mid, length_m + rail_mid):
            cv2.circle(
                td,
                px(x, k * width_m / 4),
                max(1, int(DIAMOND_RADIUS_M * ppm)),
                (230, 225, 205),
                -1,
                cv2.LINE_AA,
            )
    # Overhead lamps: brightest along the table's long axis, dimmer towards the rails.
    yy, xx = np.mgrid[0:th, 0:tw].astype(np.float32)
    nx = (xx / ppm - RAIL_M - length_m / 2) / (length_m / 2 + RAIL_M)
    ny = (yy / ppm - RAIL_M - width_m / 2) / (width_m / 2 + RAIL_M)
    td *= (1.05 - 0.12 * nx**2 - 0.18 * ny**2)[..., None]

    td_to_table = np.array([[1 / ppm, 0, -RAIL_M], [0, 1 / ppm, -RAIL_M], [0, 0, 1]])
    h = camera.homography.table_to_image @ td_to_table
    floor = (26.0, 24.0, 22.0)
    out = cv2.warpPerspective(
        td,
        h,
        (camera.width, camera.height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=floor,
    )
    return np.asarray(out, dtype=np.float32)
