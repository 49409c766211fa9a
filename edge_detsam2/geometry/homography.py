"""Planar homography between image pixels and the table plane (metres).

Table frame: origin at calibration corner 0, X along the first (long) edge towards
corner 1, Y towards corner 3. Playing surface is [0, length_m] x [0, width_m].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

F64 = NDArray[np.float64]


def fit_homography(src: ArrayLike, dst: ArrayLike) -> F64:
    """3x3 H with dst ~ H @ src from >= 4 point pairs (normalised DLT, least squares)."""
    s = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    d = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if len(s) < 4 or len(s) != len(d):
        raise ValueError("a homography needs at least 4 matching point pairs")
    ts, td = _normaliser(s), _normaliser(d)
    sn, dn = _apply(ts, s), _apply(td, d)
    rows = []
    for (x, y), (u, v) in zip(sn, dn, strict=True):
        rows.append([-x, -y, -1, 0, 0, 0, u * x, u * y, u])
        rows.append([0, 0, 0, -x, -y, -1, v * x, v * y, v])
    _, sv, vt = np.linalg.svd(np.asarray(rows))
    if sv[-2] < 1e-9:
        raise ValueError("degenerate point configuration (three or more points on a line)")
    hn = vt[-1].reshape(3, 3)
    h = np.linalg.inv(td) @ hn @ ts
    return np.asarray(h / h[2, 2], dtype=np.float64)


def _normaliser(p: F64) -> F64:
    c = p.mean(axis=0)
    scale = np.sqrt(2) / max(float(np.mean(np.linalg.norm(p - c, axis=1))), 1e-12)
    return np.array([[scale, 0, -scale * c[0]], [0, scale, -scale * c[1]], [0, 0, 1]])


def _apply(h: F64, pts: F64) -> F64:
    p = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ h.T
    return np.asarray(p[:, :2] / p[:, 2:3], dtype=np.float64)


@dataclass(frozen=True)
class Homography:
    """Maps table metres <-> image pixels. ``table_to_image`` is the 3x3 matrix."""

    table_to_image: F64

    @classmethod
    def from_corners(cls, corners_px: ArrayLike, length_m: float, width_m: float) -> Homography:
        table = [(0.0, 0.0), (length_m, 0.0), (length_m, width_m), (0.0, width_m)]
        return cls(fit_homography(table, corners_px))

    @property
    def image_to_table(self) -> F64:
        return np.asarray(np.linalg.inv(self.table_to_image), dtype=np.float64)

    def to_image(self, xy_m: ArrayLike) -> F64:
        """(N, 2) table metres -> (N, 2) pixels (also accepts a single point)."""
        p = np.asarray(xy_m, dtype=np.float64)
        return _apply(self.table_to_image, p.reshape(-1, 2)).reshape(p.shape)

    def to_table(self, uv_px: ArrayLike) -> F64:
        """(N, 2) pixels -> (N, 2) table metres (also accepts a single point)."""
        p = np.asarray(uv_px, dtype=np.float64)
        return _apply(self.image_to_table, p.reshape(-1, 2)).reshape(p.shape)

    def pixels_per_metre(self, xy_m: ArrayLike) -> F64:
        """Local scale (px per metre) at table points: sqrt of the Jacobian determinant."""
        p = np.asarray(xy_m, dtype=np.float64).reshape(-1, 2)
        h = self.table_to_image
        w = p @ h[2, :2] + h[2, 2]
        u = (p @ h[0, :2] + h[0, 2]) / w
        v = (p @ h[1, :2] + h[1, 2]) / w
        du_dx = (h[0, 0] - u * h[2, 0]) / w
        du_dy = (h[0, 1] - u * h[2, 1]) / w
        dv_dx = (h[1, 0] - v * h[2, 0]) / w
        dv_dy = (h[1, 1] - v * h[2, 1]) / w
        det = np.abs(du_dx * dv_dy - du_dy * dv_dx)
        return np.asarray(np.sqrt(det), dtype=np.float64)
