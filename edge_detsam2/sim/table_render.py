"""Static table background: felt, cushions, rails, pockets, diamonds, overhead lighting.

Drawn once per clip top-down in table metres, then warped through the camera homography.
Colours, textures, styles and lamps come from the clip's ``Look`` (``sim.look``).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from edge_detsam2.sim.camera import RAIL_M, CameraModel
from edge_detsam2.sim.look import Look

F32 = NDArray[np.float32]

CUSHION_M = 0.045
DIAMOND_RADIUS_M = 0.007


class _TopDown:
    """A top-down canvas of the table and rails at ``ppm`` pixels per metre."""

    def __init__(self, length_m: float, width_m: float, ppm: float) -> None:
        self.length_m, self.width_m, self.ppm = length_m, width_m, ppm
        self.w = int(np.ceil((length_m + 2 * RAIL_M) * ppm))
        self.h = int(np.ceil((width_m + 2 * RAIL_M) * ppm))

    def px(self, x: float, y: float) -> tuple[int, int]:
        return round((x + RAIL_M) * self.ppm), round((y + RAIL_M) * self.ppm)

    def table_coords(self) -> tuple[F32, F32]:
        """Per-pixel table coordinates relative to the playing surface (0..1 along each side)."""
        yy, xx = np.mgrid[0 : self.h, 0 : self.w].astype(np.float32)
        return (xx / self.ppm - RAIL_M) / self.length_m, (yy / self.ppm - RAIL_M) / self.width_m


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cell: int) -> F32:
    """Zero-mean noise of unit spread with features about ``cell`` pixels wide."""
    small = rng.normal(0, 1, (max(2, h // cell + 2), max(2, w // cell + 2))).astype(np.float32)
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return np.asarray(out / max(float(out.std()), 1e-6), dtype=np.float32)


def _draw_pockets(
    td: F32, canvas: _TopDown, pockets_m: dict[str, tuple[tuple[float, float], float]], look: Look
) -> None:
    ppm = canvas.ppm
    for (x, y), r in pockets_m.values():
        c = canvas.px(x, y)
        if look.pocket_style == "leather":
            cv2.circle(td, c, round(r * 1.12 * ppm), (70, 40, 22), -1, cv2.LINE_AA)
        cv2.circle(td, c, round(r * ppm), (14, 14, 14), -1, cv2.LINE_AA)
        cv2.circle(td, c, round(r * 0.7 * ppm), (4, 4, 4), -1, cv2.LINE_AA)
        if look.pocket_style == "net":
            # The net's mesh catches a little light between the hole's rim and its centre.
            rp = round(r * ppm)
            size = 2 * rp + 1
            mesh = np.zeros((size, size), dtype=np.uint8)
            step = max(2, round(0.012 * ppm))
            for k in range(0, size, step):
                cv2.line(mesh, (k, 0), (k, size - 1), 255, 1, cv2.LINE_AA)
                cv2.line(mesh, (0, k), (size - 1, k), 255, 1, cv2.LINE_AA)
            ring = np.zeros_like(mesh)
            cv2.circle(ring, (rp, rp), round(r * 0.9 * ppm), 255, -1)
            cv2.circle(ring, (rp, rp), round(r * 0.35 * ppm), 0, -1)
            x0, y0 = c[0] - rp, c[1] - rp
            ys = slice(max(y0, 0), min(y0 + size, td.shape[0]))
            xs = slice(max(x0, 0), min(x0 + size, td.shape[1]))
            sel = (mesh > 0) & (ring > 0)
            sel = sel[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
            patch = td[ys, xs]
            patch[sel] = np.maximum(patch[sel], 34.0)


def _draw_diamonds(td: F32, canvas: _TopDown, look: Look) -> None:
    L, W, ppm = canvas.length_m, canvas.width_m, canvas.ppm
    rail_mid = CUSHION_M + (RAIL_M - CUSHION_M) / 2
    spots = [(k * L / 8, y) for k in (1, 2, 3, 5, 6, 7) for y in (-rail_mid, W + rail_mid)]
    spots += [(x, k * W / 4) for k in (1, 2, 3) for x in (-rail_mid, L + rail_mid)]
    size = max(1, int(DIAMOND_RADIUS_M * ppm))
    for x, y in spots:
        cx, cy = canvas.px(x, y)
        if look.diamond_shape == "diamond":
            pts = np.array([[cx, cy - 2 * size], [cx + size, cy], [cx, cy + 2 * size], [cx - size, cy]], np.int32)
            if abs(y - W / 2) < W / 2:  # short rails: the diamond points along the rail
                pts = np.array([[cx - 2 * size, cy], [cx, cy + size], [cx + 2 * size, cy], [cx, cy - size]], np.int32)
            cv2.fillConvexPoly(td, pts, look.diamond_rgb, cv2.LINE_AA)
        else:
            cv2.circle(td, (cx, cy), size, look.diamond_rgb, -1, cv2.LINE_AA)


def _lighting(canvas: _TopDown, look: Look) -> F32:
    """Per-pixel gain: ambient falloff towards the rails plus the lamps' hot spots."""
    u, v = canvas.table_coords()
    nx, ny = (u - 0.5) * 2, (v - 0.5) * 2
    gain = 1.05 - look.ambient_falloff * (0.4 * nx**2 + 0.6 * ny**2)
    for lamp in look.lamps:
        d2 = ((u - lamp.u) * canvas.length_m) ** 2 + ((v - lamp.v) * canvas.width_m) ** 2
        gain += lamp.gain * np.exp(-d2 / (2 * (lamp.radius * canvas.length_m) ** 2))
    return np.asarray(gain, dtype=np.float32)


def render_background(
    rng: np.random.Generator,
    camera: CameraModel,
    *,
    length_m: float,
    width_m: float,
    pockets_m: dict[str, tuple[tuple[float, float], float]],
    look: Look,
) -> F32:
    """Float32 RGB image (H, W, 3) in [0, 255] of the empty table as the camera sees it."""
    ppm = float(np.max(camera.homography.pixels_per_metre(np.array([[length_m / 2, width_m / 2]])))) * 1.3
    canvas = _TopDown(length_m, width_m, ppm)
    th, tw = canvas.h, canvas.w
    td = np.empty((th, tw, 3), dtype=np.float32)
    grain = rng.normal(0, 1, (th, 1)).astype(np.float32).repeat(tw, 1) * 6
    td[:] = np.array(look.rail_rgb, dtype=np.float32) + grain[..., None]
    felt = np.array(look.felt_rgb, dtype=np.float32)
    cv2.rectangle(
        td,
        canvas.px(-CUSHION_M, -CUSHION_M),
        canvas.px(length_m + CUSHION_M, width_m + CUSHION_M),
        (felt * look.cushion_shade).tolist(),
        -1,
    )
    # A thin brighter line along the cushion nose, where the rubber's edge catches the light.
    cv2.rectangle(
        td,
        canvas.px(-0.006, -0.006),
        canvas.px(length_m + 0.006, width_m + 0.006),
        (felt * min(1.0, look.cushion_shade + 0.12)).tolist(),
        max(1, round(0.004 * ppm)),
    )
    cv2.rectangle(td, canvas.px(0, 0), canvas.px(length_m, width_m), felt.tolist(), -1)
    if look.cloth_texture > 0:
        td *= (1.0 + look.cloth_texture * _smooth_noise(rng, th, tw, max(4, round(0.25 * ppm))))[..., None]
    td += rng.normal(0, look.weave, (th, tw, 1)).astype(np.float32)
    _draw_pockets(td, canvas, pockets_m, look)
    _draw_diamonds(td, canvas, look)
    td *= _lighting(canvas, look)[..., None]

    td_to_table = np.array([[1 / ppm, 0, -RAIL_M], [0, 1 / ppm, -RAIL_M], [0, 0, 1]])
    h = camera.homography.table_to_image @ td_to_table
    floor = (26.0, 24.0, 22.0)
    out = cv2.warpPerspective(
        td, h, (camera.width, camera.height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=floor
    )
    return np.asarray(np.clip(out, 0, 255), dtype=np.float32)
