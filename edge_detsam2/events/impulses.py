"""Impulse detection: the moment a ball's velocity changes abruptly, and by how much.

Every contact event (strike, collision, cushion) is an impulse on at least one ball.
For each observation time t_c older than ``window_s``, the velocity change between a
line fit before and after t_c is scanned for a peak; at a peak the break time is
refined by a two-segment fit between neighbouring observations.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.kinematics import BallTrack, LineFit, fit_line

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Impulse:
    """An abrupt velocity change of one ball at time ``t_s`` (table metres, m/s)."""

    track_id: str
    label: str
    t_s: float
    xy_m: F64
    v_before: F64
    v_after: F64
    dv_sigma: float = 0.0  # standard error of |dv| from the estimated position noise

    @property
    def dv(self) -> F64:
        return np.asarray(self.v_after - self.v_before, dtype=np.float64)


#: A fit window with fewer than two observations (a detection gap) is widened this many times.
GAP_WINDOWS = 3


def _fit_around(track: BallTrack, t_c: float, window_s: float, side: int) -> LineFit | None:
    """Line fit just before (side -1) or after (+1) t_c, widened across a detection gap.

    A ball hidden just before it is struck (by the cue, a hand, a missed detection)
    reappears already moving: the rest before the gap still shows the impulse.
    """
    for span in (window_s, GAP_WINDOWS * window_s):
        fit = track.fit(t_c - span, t_c) if side < 0 else track.fit(t_c, t_c + span)
        if fit is not None:
            return fit
    return None


class ImpulseScanner:
    """Per-track scanner state: the last candidate time examined and recent |dv| values."""

    def __init__(self) -> None:
        self.scanned_to = -np.inf
        self.recent: deque[tuple[float, float]] = deque(maxlen=3)  # (t_c, |dv|)

    def scan(
        self, track: BallTrack, t_now: float, window_s: float, dv_min: float, sigma_m: float = 0.0, k: float = 0.0
    ) -> list[Impulse]:
        """New impulses with |dv| >= max(dv_min, k standard errors) given position noise sigma_m."""
        out = []
        times = track.times()
        for t_c in times[(times > self.scanned_to) & (times <= t_now - window_s + 1e-9)]:
            self.scanned_to = float(t_c)
            pre, post = _fit_around(track, t_c, window_s, -1), _fit_around(track, t_c, window_s, +1)
            dv = float(np.linalg.norm(post.velocity - pre.velocity)) if pre and post else 0.0
            self.recent.append((float(t_c), dv))
            if len(self.recent) < 3:
                continue
            (_, a), (t_mid, b), (_, c) = self.recent
            if b >= a and b > c and b >= 0.5 * dv_min:
                imp = _refine(track, times, t_mid, window_s, sigma_m)
                if imp is not None and float(np.linalg.norm(imp.dv)) >= max(dv_min, k * imp.dv_sigma):
                    track.last_impulse_t = imp.t_s
                    out.append(imp)
        return out


def _refine(track: BallTrack, times: F64, t_mid: float, window_s: float, sigma_m: float) -> Impulse | None:
    """Best two-segment fit with the break between two observations near t_mid."""
    i = int(np.searchsorted(times, t_mid))
    best: tuple[float, float, LineFit, LineFit] | None = None
    for j in (i - 1, i):  # break between times[j] and times[j + 1]
        if j < 0 or j + 1 >= len(times):
            continue
        ts_a, ps_a = track.window(max(times[j] - window_s, track.last_impulse_t + 1e-6), times[j])
        for span in (window_s, GAP_WINDOWS * window_s):  # widen across a detection gap
            if len(ts_a) < 2:
                ts_a, ps_a = track.window(times[j] - span, times[j])
        ts_b, ps_b = track.window(times[j + 1], times[j + 1] + window_s)
        pre, post = fit_line(ts_a, ps_a), fit_line(ts_b, ps_b)
        if pre is None or post is None:
            continue
        resid = _residual(pre, ts_a, ps_a) + _residual(post, ts_b, ps_b)
        if best is None or resid < best[0]:
            best = (resid, _crossing(pre, post, float(times[j]), float(times[j + 1])), pre, post)
    if best is None:
        return None
    _, t_star, pre, post = best
    dv_sigma = sigma_m * float(np.sqrt(1.0 / pre.sxx + 1.0 / post.sxx))
    return Impulse(track.id, track.label, t_star, pre.at(t_star), pre.velocity, post.velocity, dv_sigma)


def _residual(fit: LineFit, ts: F64, ps: F64) -> float:
    pred = fit.origin + np.outer(ts - fit.t0, fit.velocity)
    return float(np.sum((ps - pred) ** 2))


def _crossing(pre: LineFit, post: LineFit, t_lo: float, t_hi: float) -> float:
    """Time where the two motion lines are closest, clamped to the gap between observations."""
    dv = post.velocity - pre.velocity
    denom = float(np.dot(dv, dv))
    if denom < 1e-12:
        return (t_lo + t_hi) / 2
    # pre.at(t) - post.at(t) = a + (-dv) t  ->  minimise |a - dv t|^2
    a = (pre.origin - pre.velocity * pre.t0) - (post.origin - post.velocity * post.t0)
    t = float(np.dot(a, dv) / denom)
    return float(np.clip(t, t_lo, t_hi))
