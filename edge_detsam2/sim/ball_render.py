"""Shaded pool balls with stripes and numbers, spun by their angular velocity, motion-blurred.

Each ball is a small sprite: per pixel, the sphere normal is rotated into the ball's
body frame to look up its texture (colour band, white caps, number discs), lit by
one overhead light. Motion blur averages sub-frame renders over the exposure window.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from edge_detsam2.sim.look import BALL_PALETTES

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

#: Standard pool colours (RGB) by number; 9-15 are the striped versions of 1-7.
BALL_COLOURS_RGB = BALL_PALETTES["american"]
WHITE = np.array((236, 232, 220), dtype=np.float32)
STRIPE_HALF_HEIGHT = 0.5  # |z| in body frame below which a striped ball shows its colour
NUMBER_DISC_COS = float(np.cos(0.42))  # angular radius of the white number disc
LIGHT = np.array([-0.3, -0.4, 1.0]) / np.linalg.norm([-0.3, -0.4, 1.0])
CUE_DOT_COS = float(np.cos(0.16))  # angular radius of a measles cue ball's red dots
CUE_LOGO_COS = (float(np.cos(0.25)), float(np.cos(0.38)))  # a red ring logo on one side
CUE_MARK_RGB = np.array((200, 30, 40), dtype=np.float32)
HALF = (LIGHT + np.array([0.0, 0.0, 1.0])) / np.linalg.norm(LIGHT + np.array([0.0, 0.0, 1.0]))


def _glyph(number: int, size: int = 32) -> F32:
    img = np.zeros((size, size), dtype=np.uint8)
    text = str(number)
    scale = 0.8 if number < 10 else 0.6
    (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(
        img,
        text,
        ((size - tw) // 2, (size + th) // 2),
        cv2.FONT_HERSHEY_SIMPLEX,
        scale,
        255,
        2,
        cv2.LINE_AA,
    )
    return img.astype(np.float32) / 255.0


@dataclass
class BallAppearance:
    """Texture of one ball and its current orientation (body -> pooltool frame)."""

    number: int
    rotation: F64
    rgb: tuple[float, float, float] | None = None  # base colour; None: the standard palette
    mark: str = "plain"  # cue ball only: plain, dots (six red dots) or logo (one red ring)

    @property
    def striped(self) -> bool:
        return self.number >= 9

    @property
    def colour(self) -> F32:
        base = self.rgb or BALL_COLOURS_RGB[self.number - 8 if self.number >= 9 else self.number]
        return np.array(base, dtype=np.float32)

    def spin(self, w_radps: F64, dt_s: float) -> None:
        """Advance the orientation by angular velocity ``w`` (pooltool frame) over dt."""
        angle = float(np.linalg.norm(w_radps)) * dt_s
        if angle < 1e-9:
            return
        k = w_radps / np.linalg.norm(w_radps)
        kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
        rot = np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * (kx @ kx)
        self.rotation = rot @ self.rotation


def random_orientation(rng: np.random.Generator) -> F64:
    q = rng.normal(size=4)
    q /= np.linalg.norm(q)
    w, x, y, z = q
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


class BallPainter:
    """Renders ball sprites; keeps the number glyphs."""

    def __init__(self) -> None:
        self._glyphs = {n: _glyph(n) for n in range(1, 16)}

    def albedo(self, ball: BallAppearance, n_img: F64) -> F32:
        """Surface colour (N, 3) for image-frame unit normals (N, 3) (x right, y down, z up)."""
        # Image (right, down, toward camera) -> pooltool (x, y, z) = (down, right, up).
        n_pt = np.stack([n_img[:, 1], n_img[:, 0], n_img[:, 2]], axis=1)
        p = n_pt @ ball.rotation  # body coordinates: R^T n for each row
        out = np.empty((len(p), 3), dtype=np.float32)
        out[:] = ball.colour
        if ball.number == 0:
            out[:] = ball.colour
            if ball.mark == "dots":
                dots = np.abs(p) > CUE_DOT_COS
                out[dots.any(axis=1)] = CUE_MARK_RGB
            elif ball.mark == "logo":
                ring = (p[:, 0] > CUE_LOGO_COS[1]) & (p[:, 0] < CUE_LOGO_COS[0])
                out[ring] = CUE_MARK_RGB
            return out
        if ball.striped:
            out[np.abs(p[:, 2]) > STRIPE_HALF_HEIGHT] = WHITE
        for sign in (1.0, -1.0):
            cos = sign * p[:, 0]
            disc = cos > NUMBER_DISC_COS
            if not np.any(disc):
                continue
            out[disc] = WHITE
            radius = np.sqrt(1 - NUMBER_DISC_COS**2)
            s = (sign * p[disc, 1] / radius + 1) / 2
            t = (-p[disc, 2] / radius + 1) / 2
            g = self._glyphs[ball.number]
            gi = np.clip((t * g.shape[0]).astype(int), 0, g.shape[0] - 1)
            gj = np.clip((s * g.shape[1]).astype(int), 0, g.shape[1] - 1)
            ink = g[gi, gj][:, None]
            out[disc] = out[disc] * (1 - ink) + 20 * ink
        return out

    def sprite(self, ball: BallAppearance, centres_px: F64, radius_px: float) -> tuple[tuple[int, int], F32, F32]:
        """Blurred sprite over sub-frame centres (K, 2).

        Returns (x0, y0) of the sprite's top-left pixel, premultiplied RGB (h, w, 3)
        and alpha (h, w), both averaged over the K sub-frame positions.
        """
        lo = np.floor(centres_px.min(axis=0) - radius_px - 2).astype(int)
        hi = np.ceil(centres_px.max(axis=0) + radius_px + 2).astype(int)
        h, w = int(hi[1] - lo[1]), int(hi[0] - lo[0])
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        # Pixel (i, j) has its centre at (x=j, y=i): the OpenCV convention, also used by
        # the homography and by tracks JSONL, so no half-pixel offsets creep in.
        xx += lo[0]
        yy += lo[1]
        rgb = np.zeros((h, w, 3), dtype=np.float32)
        alpha = np.zeros((h, w), dtype=np.float32)
        for cx, cy in centres_px:
            dx, dy = (xx - cx) / radius_px, (yy - cy) / radius_px
            d2 = dx * dx + dy * dy
            a = np.clip((1.0 - np.sqrt(d2)) * radius_px + 0.5, 0.0, 1.0)
            inside = a > 0
            nz = np.sqrt(np.clip(1.0 - d2[inside], 0.0, 1.0))
            n = np.stack([dx[inside], dy[inside], nz], axis=1)
            n /= np.linalg.norm(n, axis=1, keepdims=True)
            diffuse = np.clip(n @ LIGHT, 0.0, 1.0)[:, None]
            spec = (np.clip(n @ HALF, 0.0, 1.0) ** 60)[:, None]
            col = self.albedo(ball, n) * (0.28 + 0.72 * diffuse) + 255.0 * 0.55 * spec
            rgb[inside] += col * a[inside][:, None]
            alpha += a
        k = float(len(centres_px))
        return (int(lo[0]), int(lo[1])), rgb / k, alpha / k
