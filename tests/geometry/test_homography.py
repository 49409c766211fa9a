from __future__ import annotations

import numpy as np
import pytest

from edge_detsam2.geometry.homography import Homography, fit_homography


def test_fit_recovers_a_known_perspective_map() -> None:
    h_true = np.array([[420.0, 12.0, 90.0], [-8.0, 410.0, 60.0], [0.02, -0.03, 1.0]])
    src = np.array([[0, 0], [2.5, 0], [2.5, 1.2], [0, 1.2], [1.0, 0.6]])
    p = np.c_[src, np.ones(len(src))] @ h_true.T
    dst = p[:, :2] / p[:, 2:]
    h = fit_homography(src, dst)
    assert np.allclose(h, h_true / h_true[2, 2], atol=1e-6)


def test_round_trip_and_local_scale() -> None:
    corners = [(100, 80), (1180, 95), (1160, 650), (120, 630)]
    hom = Homography.from_corners(corners, 2.54, 1.27)
    pts = np.random.default_rng(0).uniform([0, 0], [2.54, 1.27], size=(50, 2))
    assert np.allclose(hom.to_table(hom.to_image(pts)), pts, atol=1e-9)
    assert np.allclose(hom.to_image([[0, 0], [2.54, 0], [2.54, 1.27], [0, 1.27]]), corners, atol=1e-6)
    # The Jacobian scale agrees with a finite-difference area ratio.
    x = np.array([1.0, 0.5])
    eps = 1e-4
    a, b, c = hom.to_image(x), hom.to_image(x + [eps, 0]), hom.to_image(x + [0, eps])
    (ux, uy), (vx, vy) = b - a, c - a
    area = abs(ux * vy - uy * vx) / eps**2
    assert hom.pixels_per_metre(x)[0] == pytest.approx(np.sqrt(area), rel=1e-3)


def test_degenerate_points_are_rejected() -> None:
    with pytest.raises(ValueError, match="degenerate"):
        fit_homography([(0, 0), (1, 0), (2, 0), (3, 0)], [(0, 0), (1, 0), (2, 0), (3, 0)])
