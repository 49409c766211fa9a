"""Per-track kinematics in table metres: bounded history and least-squares motion fits.

Velocities come from straight-line fits over short time windows, not one-frame
differences: robust to pixel jitter and to missed frames, independent of frame rate.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

F64 = NDArray[np.float64]

#: Hard cap on observations kept per track, whatever the frame rate (memory bound).
MAX_HISTORY = 512


@dataclass(frozen=True)
class LineFit:
    """p(t) = origin + velocity * (t - t0), fitted over ``n`` observations."""

    t0: float
    origin: F64
    velocity: F64
    n: int
    rms_m: float  # residual RMS of the fit (per coordinate)
    sxx: float  # sum of squared time offsets; velocity sigma = position sigma / sqrt(sxx)

    def at(self, t: float) -> F64:
        return np.asarray(self.origin + self.velocity * (t - self.t0), dtype=np.float64)


def fit_line(ts: F64, ps: F64) -> LineFit | None:
    """Least-squares straight-line motion through (t, p); None with fewer than 2 points."""
    if len(ts) < 2 or float(ts[-1] - ts[0]) <= 0:
        return None
    t0 = float(ts.mean())
    dt = ts - t0
    denom = float(np.dot(dt, dt))
    mean = ps.mean(axis=0)
    vel = (dt @ (ps - mean)) / denom
    resid = ps - mean - np.outer(dt, vel)
    rms = float(np.sqrt(np.mean(resid**2) * len(ts) / max(len(ts) - 2, 1)))
    return LineFit(t0, mean, np.asarray(vel, dtype=np.float64), len(ts), rms, denom)


class NoiseEstimate:
    """Running estimate of the tracker's position noise (m), from line fits of still balls.

    The median of recent residual RMS values: robust to the few fits that straddle a
    contact. Bounded: a fixed number of samples.
    """

    def __init__(self, prior_m: float = 0.003, floor_m: float = 0.0, samples: int = 301) -> None:
        self.floor_m = floor_m
        self._rms: deque[float] = deque(maxlen=samples)
        # Until enough still balls were seen, assume a conservative jitter (prior_m).
        self._sigma = max(prior_m, floor_m)

    def observe(self, fit: LineFit) -> None:
        if fit.n >= 5:
            self._rms.append(fit.rms_m)
            if len(self._rms) % 25 == 0:
                self._sigma = max(self.floor_m, float(np.median(self._rms)))

    @property
    def sigma_m(self) -> float:
        return self._sigma


class BallTrack:
    """Recent observations of one tracked ball (time s, position m), bounded by time and count."""

    def __init__(self, track_id: str, label: str, history_s: float) -> None:
        self.id = track_id
        self.label = label
        self.history_s = history_s
        self._t: deque[float] = deque(maxlen=MAX_HISTORY)
        self._p: deque[tuple[float, float]] = deque(maxlen=MAX_HISTORY)
        self.last_impulse_t = -np.inf  # time of the latest detected impulse on this ball

    def __len__(self) -> int:
        return len(self._t)

    def add(self, t: float, xy: F64) -> None:
        self._t.append(t)
        self._p.append((float(xy[0]), float(xy[1])))
        while self._t and t - self._t[0] > self.history_s:
            self._t.popleft()
            self._p.popleft()

    @property
    def last_t(self) -> float:
        return self._t[-1]

    @property
    def last_xy(self) -> F64:
        return np.array(self._p[-1])

    def window(self, t_from: float, t_to: float) -> tuple[F64, F64]:
        """Observations with t_from <= t <= t_to (inclusive, small epsilon)."""
        ts = np.fromiter(self._t, dtype=np.float64, count=len(self._t))
        sel = (ts >= t_from - 1e-9) & (ts <= t_to + 1e-9)
        ps = np.asarray(self._p, dtype=np.float64).reshape(-1, 2)
        return ts[sel], ps[sel]

    def fit(self, t_from: float, t_to: float) -> LineFit | None:
        ts, ps = self.window(t_from, t_to)
        return fit_line(ts, ps)

    def jitter_m(self) -> float:
        """This ball's own position noise (m): robust scale of each observation's distance from
        the chord of its two neighbours (zero for a ball moving uniformly, large at impulses,
        which the median ignores). 0 with fewer than 8 observations."""
        if len(self._t) < 8:
            return 0.0
        ts = self.times()
        ps = np.asarray(self._p, dtype=np.float64)
        gap = ts[2:] - ts[:-2]
        b = (ts[1:-1] - ts[:-2]) / np.maximum(gap, 1e-9)
        a = 1.0 - b
        resid = ps[1:-1] - (a[:, None] * ps[:-2] + b[:, None] * ps[2:])
        # For white noise sigma per axis: var = sigma^2 (1 + a^2 + b^2); |r| ~ sigma * Rayleigh,
        # whose median is sigma * sqrt(2 ln 2).
        r = np.linalg.norm(resid, axis=1) / np.sqrt(1.0 + a * a + b * b)
        return float(np.median(r) / np.sqrt(2.0 * np.log(2.0)))

    def times(self) -> F64:
        return np.fromiter(self._t, dtype=np.float64, count=len(self._t))

    def position_at(self, t: float, window_s: float) -> F64 | None:
        """Position at time t from a local fit (interpolates gaps, smooths jitter)."""
        fit = self.fit(t - window_s, t + window_s)
        if fit is None:
            ts, ps = self.window(t - window_s, t + window_s)
            return ps[np.argmin(np.abs(ts - t))] if len(ts) else None
        return fit.at(t)

    def interpolate(self, t: float, max_gap_s: float) -> F64 | None:
        """Linear interpolation between the observations just before and just after t."""
        ts = self.times()
        i = int(np.searchsorted(ts, t))
        if i == 0 or i >= len(ts) or ts[i] - ts[i - 1] > max_gap_s:
            return None
        w = (t - ts[i - 1]) / (ts[i] - ts[i - 1])
        a, b = np.array(self._p[i - 1]), np.array(self._p[i])
        return np.asarray((1 - w) * a + w * b, dtype=np.float64)
