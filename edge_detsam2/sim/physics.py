"""Shot sequences simulated by pooltool, queried at any stream time.

Coordinates: pooltool's table has x across the short side and y along the long side.
Our table frame (INTERFACES.md) has X along the long side, so (X, Y) = (y_pt, x_pt).
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.errors import SimulationError, UsageError

logger = logging.getLogger(__name__)

F64 = NDArray[np.float64]
#: pooltool objects (System, Table, Ball) stay untyped: pooltool ships no type information.
Pt = Any

#: Table sizes (playing surface between cushion noses, long side, metres).
TABLE_SIZES_M = {"7ft": 1.9812, "8ft": 2.2352, "9ft": 2.54}
BALL_SETS = ("eightball", "nineball")

#: Cue ball timing around a strike (seconds relative to contact).
LEAD_IN_S = 1.0
REST_GAP_S = 1.2
TAIL_S = 0.8
MAX_DRAWS = 20


def ball_label(pt_id: str) -> str:
    """pooltool ball id -> public label ('cue' -> 'cue_ball', '3' -> 'ball_3')."""
    return "cue_ball" if pt_id == "cue" else f"ball_{pt_id}"


def ball_number(label: str) -> int:
    """'cue_ball' -> 0, 'ball_3' -> 3 (used as the stable track id)."""
    return 0 if label == "cue_ball" else int(label.split("_")[1])


def to_table_xy(pt_xy: F64) -> F64:
    """pooltool (x, y) -> table frame (X, Y) = (y, x); works on (..., 2) arrays."""
    return np.asarray(pt_xy, dtype=np.float64)[..., ::-1]


@dataclass(frozen=True)
class BallKinematics:
    """State of one ball at one instant, in the table frame."""

    xy_m: F64
    v_mps: F64
    w_radps: F64  # angular velocity in pooltool's frame (x, y, z), for rendering spin
    on_table: bool


@dataclass
class _BallTrack:
    """Event-time states of one ball during one shot (times relative to the strike)."""

    times: F64
    rvws: list[F64]
    states: list[int]


@dataclass
class SimulatedShot:
    """One shot: pooltool system simulated from the strike until all balls rest."""

    index: int
    strike_t_s: float
    duration_s: float
    is_break: bool
    phi_deg: float
    speed_mps: float
    system: Pt  # pooltool.System
    tracks: dict[str, _BallTrack] = field(default_factory=dict)

    @property
    def end_t_s(self) -> float:
        return self.strike_t_s + self.duration_s


@dataclass
class PhysicsClip:
    """A sequence of shots on one table; the table state carries over between shots."""

    length_m: float
    width_m: float
    ball_radius_m: float
    labels: tuple[str, ...]
    shots: list[SimulatedShot]
    pockets_m: dict[str, tuple[tuple[float, float], float]]  # id -> (table xy, radius)
    cushion_names: dict[str, str]  # pooltool cushion segment id -> public cushion name
    params: dict[str, float]

    @property
    def end_t_s(self) -> float:
        return self.shots[-1].end_t_s + TAIL_S

    def shot_at(self, t_s: float) -> SimulatedShot:
        """The shot whose state the table shows at t.

        A shot's initial state is shown from half the rest gap before its strike: that is
        when a scratched cue ball is placed back on the table (all other balls are
        unchanged since the previous shot ended).
        """
        current = self.shots[0]
        for shot in self.shots:
            if shot.strike_t_s - REST_GAP_S / 2 <= t_s:
                current = shot
        return current

    def state(self, label: str, t_s: float) -> BallKinematics:
        """Exact ball state at stream time t (analytic evolution from the last event)."""
        from pooltool.physics.evolve import evolve_ball_motion

        shot = self.shot_at(t_s)
        track = shot.tracks[label]
        t_rel = min(max(t_s - shot.strike_t_s, 0.0), shot.duration_s)
        # Before the strike the ball is in its initial state (history[0]); at t_rel == 0
        # history holds both the pre- and post-strike states.
        i = 0 if t_s < shot.strike_t_s else int(np.searchsorted(track.times, t_rel, "right")) - 1
        rvw, s = track.rvws[i], track.states[i]
        on_table = s != 4  # pooltool.constants.pocketed
        dt = t_rel - float(track.times[i])
        if on_table and dt > 0 and s != 0:
            p = self.params
            rvw, s = evolve_ball_motion(s, rvw.copy(), p["R"], p["m"], p["u_s"], p["u_sp"], p["u_r"], p["g"], dt)
            on_table = s != 4
        return BallKinematics(
            xy_m=to_table_xy(rvw[0, :2]),
            v_mps=to_table_xy(rvw[1, :2]),
            w_radps=np.asarray(rvw[2], dtype=np.float64),
            on_table=bool(on_table),
        )

    def is_moving(self, t_s: float) -> bool:
        shot = self.shot_at(t_s)
        return shot.strike_t_s <= t_s < shot.end_t_s


class _SortedChoiceRandom:
    """A ``random`` stand-in whose ``choice`` sorts first.

    pooltool's rack builder calls ``random.choice(list(some_set))``; a set's order depends
    on PYTHONHASHSEED, so the same seed would give different racks in different processes.
    """

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def choice(self, seq: list[str]) -> str:
        return self._rng.choice(sorted(seq))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._rng, name)


@contextlib.contextmanager
def _seeded_pooltool_layouts(seed: int) -> Iterator[None]:
    """Make pooltool's rack generator deterministic for ``seed``, then restore it."""
    import pooltool.layouts as layouts

    np_state = np.random.get_state()
    np.random.seed(seed % 2**32)
    original = layouts.random
    layouts.random = _SortedChoiceRandom(seed)
    try:
        yield
    finally:
        layouts.random = original
        np.random.set_state(np_state)


def _make_table(length_m: float) -> Pt:
    import pooltool as pt
    from pooltool.objects.table.specs import PocketTableSpecs

    return pt.Table.from_table_specs(PocketTableSpecs(l=length_m, w=length_m / 2))


def _cushion_names(table: Pt, length_m: float, width_m: float) -> dict[str, str]:
    """Map pooltool cushion segments to public names: rails by side, the rest to jaws."""
    names: dict[str, str] = {}
    pockets = _pocket_positions(table)
    for sid, seg in table.cushion_segments.linear.items():
        a, b = to_table_xy(seg.p1[:2]), to_table_xy(seg.p2[:2])
        d = b - a
        if abs(d[1]) < 1e-6 and abs(a[1]) < 1e-3:
            names[sid] = "top"
        elif abs(d[1]) < 1e-6 and abs(a[1] - width_m) < 1e-3:
            names[sid] = "bottom"
        elif abs(d[0]) < 1e-6 and abs(a[0]) < 1e-3:
            names[sid] = "left"
        elif abs(d[0]) < 1e-6 and abs(a[0] - length_m) < 1e-3:
            names[sid] = "right"
        else:
            names[sid] = "jaw:" + _nearest_pocket(pockets, (a + b) / 2)
    for sid, seg in table.cushion_segments.circular.items():
        names[sid] = "jaw:" + _nearest_pocket(pockets, to_table_xy(seg.center[:2]))
    return names


#: pooltool pocket ids -> public ids (see geometry.calibration.DEFAULT_POCKET_IDS).
POCKET_IDS = {
    "lb": "top_left",
    "lt": "top_right",
    "rt": "bottom_right",
    "rb": "bottom_left",
    "lc": "top_middle",
    "rc": "bottom_middle",
}


def _pocket_positions(table: Pt) -> dict[str, tuple[tuple[float, float], float]]:
    out = {}
    for pid, pocket in table.pockets.items():
        xy = to_table_xy(pocket.center[:2])
        out[POCKET_IDS[pid]] = ((float(xy[0]), float(xy[1])), float(pocket.radius))
    return out


def _nearest_pocket(pockets: dict[str, tuple[tuple[float, float], float]], xy: F64) -> str:
    return min(pockets, key=lambda k: float(np.hypot(*(np.asarray(pockets[k][0]) - xy))))


def _initial_balls(rng: np.random.Generator, table: Pt, ball_set: str, layout: str) -> dict[str, Pt]:
    import pooltool as pt

    game = pt.GameType.EIGHTBALL if ball_set == "eightball" else pt.GameType.NINEBALL
    with _seeded_pooltool_layouts(int(rng.integers(2**31))):
        balls: dict[str, Pt] = dict(pt.get_rack(game, table, spacing_factor=1e-3))
    if layout == "rack":
        _place_cue_in_kitchen(rng, balls, table)
        return balls
    # Scattered: a random subset of the set, uniformly placed without overlap.
    ids = [b for b in balls if b != "cue"]
    keep = set(rng.choice(ids, size=int(rng.integers(4, len(ids) + 1)), replace=False))
    balls = {k: v for k, v in balls.items() if k == "cue" or k in keep}
    for bid in sorted(balls):
        _place_free(rng, balls, bid, table, x_range=(0.05, 0.95))
    return balls


def _place_free(
    rng: np.random.Generator,
    balls: dict[str, Pt],
    bid: str,
    table: Pt,
    x_range: tuple[float, float],
) -> None:
    """Place ball ``bid`` at a random free spot; x_range is a fraction of the long side."""
    ball = balls[bid]
    R = ball.params.R
    w, length = table.w, table.l
    others = [b.state.rvw[0, :2] for k, b in balls.items() if k != bid and b.state.s != 4]
    for _ in range(500):
        xy = np.array([rng.uniform(2 * R, w - 2 * R), rng.uniform(*x_range) * length])
        if all(np.hypot(*(xy - o)) > 2.2 * R for o in others):
            ball.state.rvw[0] = (xy[0], xy[1], R)
            ball.state.rvw[1:] = 0.0
            ball.state.s = 0
            return
    raise SimulationError(f"no free spot for ball {bid}; use fewer balls or a larger table")


def _place_cue_in_kitchen(rng: np.random.Generator, balls: dict[str, Pt], table: Pt) -> None:
    _place_free(rng, balls, "cue", table, x_range=(0.08, 0.25))


def _draw_strike(rng: np.random.Generator, system: Pt, is_break: bool) -> tuple[float, float, float, float]:
    """Random aim (phi, degrees), speed V0 (m/s) and tip offsets (a, b)."""
    import pooltool as pt

    on_table = [k for k, b in system.balls.items() if k != "cue" and b.state.s != 4]
    target = str(rng.choice(sorted(on_table)))
    if is_break:
        cut, v0 = rng.uniform(-2.0, 2.0), rng.uniform(4.5, 6.5)
        a, b = rng.uniform(-0.05, 0.05), rng.uniform(-0.1, 0.2)
    else:
        cut, v0 = rng.uniform(-35.0, 35.0), rng.uniform(0.8, 2.8)
        spin_r, spin_t = rng.uniform(0.0, 0.45), rng.uniform(0.0, 2 * np.pi)
        a, b = spin_r * np.cos(spin_t), spin_r * np.sin(spin_t)
    phi = pt.aim.at_ball(system, target, cut=float(cut))
    return float(phi), float(v0), float(a), float(b)


def _ball_tracks(system: Pt) -> dict[str, _BallTrack]:
    tracks = {}
    for bid, ball in system.balls.items():
        states = list(ball.history.states)
        tracks[ball_label(bid)] = _BallTrack(
            times=np.array([s.t for s in states], dtype=np.float64),
            rvws=[np.array(s.rvw, dtype=np.float64) for s in states],
            states=[int(s.s) for s in states],
        )
    return tracks


def _next_system(prev: Pt) -> Pt:
    """Table state after a shot, ready for the next one (pocketed balls stay down)."""
    system = prev.copy()
    system.reset_history()
    # Not System.stop_balls(): it would mark pocketed balls stationary (back in play).
    for ball in system.balls.values():
        if ball.state.s != 4:
            ball.state.s = 0
            ball.state.rvw[1:] = 0.0
    return system


def simulate_physics(
    rng: np.random.Generator,
    *,
    n_shots: int,
    ball_set: str = "eightball",
    table_size: str = "7ft",
    layout: str = "rack",
    max_shot_s: float = 20.0,
) -> PhysicsClip:
    """Simulate ``n_shots`` consecutive shots; a racked layout starts with a break."""
    import pooltool as pt

    if ball_set not in BALL_SETS:
        raise UsageError(f"--ball-set {ball_set!r}: use one of {', '.join(BALL_SETS)}")
    if table_size not in TABLE_SIZES_M:
        raise UsageError(f"--table-size {table_size!r}: use one of {', '.join(TABLE_SIZES_M)}")
    length = TABLE_SIZES_M[table_size]
    table = _make_table(length)
    balls = _initial_balls(rng, table, ball_set, layout)
    system = pt.System(table=table, balls=balls, cue=pt.Cue(cue_ball_id="cue"))
    shots: list[SimulatedShot] = []
    t = LEAD_IN_S
    for k in range(n_shots):
        shot = _simulate_shot(rng, system, k, t, is_break=(k == 0 and layout == "rack"), max_s=max_shot_s)
        shots.append(shot)
        t = shot.end_t_s + REST_GAP_S
        system = _next_system(shot.system)
        if system.balls["cue"].state.s == 4:
            _place_cue_in_kitchen(rng, system.balls, table)
        if not any(k2 != "cue" and b.state.s != 4 for k2, b in system.balls.items()):
            logger.info("all object balls potted after shot %d; clip ends early", k + 1)
            break
    cue_params = system.balls["cue"].params
    return PhysicsClip(
        length_m=length,
        width_m=length / 2,
        ball_radius_m=float(cue_params.R),
        labels=tuple(sorted((ball_label(b) for b in balls), key=ball_number)),
        shots=shots,
        pockets_m=_pocket_positions(table),
        cushion_names=_cushion_names(table, length, length / 2),
        params={
            "R": float(cue_params.R),
            "m": float(cue_params.m),
            "u_s": float(cue_params.u_s),
            "u_sp": float(cue_params.u_sp),
            "u_r": float(cue_params.u_r),
            "g": float(cue_params.g),
        },
    )


def _simulate_shot(
    rng: np.random.Generator,
    system: Pt,
    index: int,
    strike_t: float,
    is_break: bool,
    max_s: float,
) -> SimulatedShot:
    import pooltool as pt

    for _ in range(MAX_DRAWS):
        trial = system.copy()
        phi, v0, a, b = _draw_strike(rng, trial, is_break)
        trial.strike(V0=v0, phi=phi, a=a, b=b, theta=0.0)
        try:
            pt.simulate(trial, inplace=True)
        except Exception as exc:  # pooltool raises plain exceptions on unresolvable states
            logger.debug("shot %d: pooltool failed (%s); drawing another strike", index, exc)
            continue
        if trial.t > max_s:
            continue
        return SimulatedShot(
            index=index,
            strike_t_s=strike_t,
            duration_s=float(trial.t),
            is_break=is_break,
            phi_deg=phi,
            speed_mps=v0,
            system=trial,
            tracks=_ball_tracks(trial),
        )
    raise SimulationError(f"shot {index}: no valid strike in {MAX_DRAWS} draws; try another --seed")
