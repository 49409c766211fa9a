"""The published centroid is the centroid of SAM2's video-resolution mask, computed without torch."""

from __future__ import annotations

import numpy as np
import pytest

from edge_detsam2.tracker.session import TrackedMasks, mask_centroid

torch = pytest.importorskip("torch")


def _blobs(rng: np.random.Generator, n: int, size: int = 128) -> np.ndarray:
    """Ball-like logit blobs (2-4 low-res cells across), some at the border, one thin, one empty."""
    yy, xx = np.mgrid[0:size, 0:size]
    out = np.full((n, 1, size, size), -8.0, dtype=np.float32)
    for k in range(n - 1):
        cy, cx = rng.uniform(0, size, 2) if k % 3 else rng.uniform(-1, 3, 2)  # some on the frame's edge
        r = rng.uniform(0.6, 2.5)
        d = np.hypot((yy - cy) / rng.uniform(0.5, 1.0), xx - cx)
        out[k, 0] = (r - d) * rng.uniform(3, 12)
    return out  # the last one stays empty


@pytest.mark.parametrize("video_size", [(720, 1280), (360, 640), (1080, 1920)])
def test_centroids_match_the_video_resolution_mask_of_the_official_predictor(video_size: tuple[int, int]) -> None:
    logits = _blobs(np.random.default_rng(sum(video_size)), 12)
    m = TrackedMasks(0, tuple(range(12)), ("ball",) * 12, logits, np.ones(12, np.float32), video_size)
    got = m.centroids_px()
    full = m.video_res_logits().numpy()[:, 0]  # torch's F.interpolate, as SAM2VideoPredictor does
    for i in range(11):
        if (full[i] > 0).any():
            assert got[i] == pytest.approx(mask_centroid(full[i]), abs=1e-3)  # float32 torch vs float64
        elif (logits[i] > 0).any():  # too thin to survive upsampling: the low-res fallback places it
            assert np.isfinite(got[i]).all()
        else:
            assert np.isnan(got[i]).all()
    assert np.isnan(got[11]).all()


def test_the_centroid_is_the_ball_s_not_a_fragment_bled_onto_a_neighbour() -> None:
    """A mask with a detached fragment on a touching ball: the fragment does not pull the centre."""
    yy, xx = np.mgrid[0:80, 0:80]
    ball = 12.0 - np.hypot(xx - 30.3, yy - 40.6)  # logits: a disc of radius 12 around (30.3, 40.6)
    fragment = 3.0 - np.hypot(xx - 52.0, yy - 40.0)
    logits = np.maximum(ball, fragment).astype(np.float32)
    assert (logits > 0).sum() > (ball > 0).sum()  # the fragment is part of the mask
    cx, cy = mask_centroid(logits)  # type: ignore[misc]
    _, xs = np.nonzero(logits > 0)
    assert abs(xs.mean() - 30.3) > 0.5  # the plain mean is pulled towards the fragment
    assert (cx, cy) == pytest.approx((30.3, 40.6), abs=0.05)  # sub-pixel, from the logit-weighted edge
    assert mask_centroid(np.full((5, 5), -3.0, np.float32)) is None
