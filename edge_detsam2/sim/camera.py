"""The simulated overhead camera: framing, mild perspective, exposure, noise, falloff."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.geometry.homography import Homography

F32 = NDArray[np.float32]

#: Rail width beyond the cushion nose that the camera must keep in view (m).
RAIL_M = 0.12


@dataclass(frozen=True)
class CameraModel:
    """Image size, table-to-image homography and sensor effects of one clip."""

    width: int
    height: int
    fps: float
    homography: Homography
    corners_px: tuple[tuple[float, float], ...]
    exposure_s: float
    noise_sigma: float  # in 8-bit digital numbers
    falloff: float  # relative brightness loss at the image corners

    def vignette(self) -> F32:
        """Per-pixel gain (H, W, 1): lens and lighting falloff towards the corners."""
        y, x = np.mgrid[0 : self.height, 0 : self.width].astype(np.float32)
        cx, cy = (self.width - 1) / 2, (self.height - 1) / 2
        r2 = ((x - cx) / cx) ** 2 + ((y - cy) / cy) ** 2
        return np.asarray((1.0 - self.falloff * r2 / 2.0)[..., None], dtype=np.float32)


def make_camera(
    rng: np.random.Generator,
    *,
    width: int,
    height: int,
    fps: float,
    length_m: float,
    width_m: float,
    perspective: float = 1.0,
) -> CameraModel:
    """Frame the table centred in the image, then tilt and rotate it slightly.

    ``perspective`` scales the random keystone/rotation (0 = exactly overhead).
    """
    scale = min(0.95 * width / (length_m + 2 * RAIL_M), 0.95 * height / (width_m + 2 * RAIL_M))
    half = np.array([length_m / 2 * scale, width_m / 2 * scale])
    base = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], dtype=np.float64) * half
    keystone = rng.uniform(0.0, 0.05) * perspective  # far (top) edge appears shorter
    base[:2, 0] *= 1.0 - keystone
    base[:2, 1] *= 1.0 - keystone / 2
    angle = np.deg2rad(rng.uniform(-1.5, 1.5) * perspective)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    corners = base @ rot.T
    corners += rng.uniform(-0.004, 0.004, size=corners.shape) * scale * perspective
    centre = np.array([width / 2, height / 2]) + rng.uniform(-0.01, 0.01, 2) * np.array([width, height])
    corners_px = corners + centre
    # Shrink so the rails stay inside the frame after tilt and rotation.
    h = Homography.from_corners(corners_px, length_m, width_m)
    outer = h.to_image(
        np.array(
            [
                [-RAIL_M, -RAIL_M],
                [length_m + RAIL_M, -RAIL_M],
                [length_m + RAIL_M, width_m + RAIL_M],
                [-RAIL_M, width_m + RAIL_M],
            ]
        )
    )
    over = max(
        float(np.max((np.abs(outer - [width / 2, height / 2])) / [width / 2 * 0.99, height / 2 * 0.99])),
        1.0,
    )
    corners_px = (corners_px - [width / 2, height / 2]) / over + [width / 2, height / 2]
    return CameraModel(
        width=width,
        height=height,
        fps=fps,
        homography=Homography.from_corners(corners_px, length_m, width_m),
        corners_px=tuple((float(u), float(v)) for u, v in corners_px),
        exposure_s=float(rng.uniform(0.4, 0.6)) / fps,
        noise_sigma=float(rng.uniform(1.5, 3.5)),
        falloff=float(rng.uniform(0.15, 0.3)),
    )
