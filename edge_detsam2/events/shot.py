"""Shots and shot ends: the cue ball leaves rest from a strike; later all balls come to rest.

A strike is an impulse on the cue ball while it was at rest that no moving ball in
contact explains. The shot stays open until every ball has rested for
``shot_end_confirm_s``; a new strike closes an open shot first, unless it comes within
``restrike_s`` of the shot's own: nobody strikes twice that fast, so it is the same stroke
seen twice (the cue ball's mask wobbles under the cue) or no strike at all (a rack ball the
identity classifier calls the cue ball, hit in the break).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from edge_detsam2.events.collision import pre_state
from edge_detsam2.events.impulses import Impulse
from edge_detsam2.events.params import EventParams
from edge_detsam2.events.types import Event, EventType, ShotSummary
from edge_detsam2.kinematics import BallTrack, LineFit, NoiseEstimate


def is_strike(
    imp: Impulse, tracks: Mapping[str, BallTrack], ball_radius_m: float, params: EventParams, noise: NoiseEstimate
) -> bool:
    if imp.label != params.cue_label or not leaves_rest(imp, tracks, params, noise):
        return False
    for other in tracks.values():
        if other.id == imp.track_id:
            continue
        state = pre_state(other, imp.t_s, params.window_s)
        if state is None:
            continue
        if float(np.linalg.norm(state[0] - imp.xy_m)) > 2 * ball_radius_m + params.contact_tolerance_m:
            continue
        # A ball in contact that was itself moving explains the impulse: that is a collision.
        other_fit = other.fit(imp.t_s - params.rest_window_s, imp.t_s - 1e-6)
        if other_fit is not None and is_moving(other_fit, params, noise):
            return False
    return True


def leaves_rest(imp: Impulse, tracks: Mapping[str, BallTrack], params: EventParams, noise: NoiseEstimate) -> bool:
    """``imp`` sets a resting ball moving at ``shot_min_speed_mps`` or more."""
    # At rest before: judged over the longer rest window, which averages out pixel jitter.
    rest = tracks[imp.track_id].fit(imp.t_s - params.rest_window_s, imp.t_s - 1e-6) if imp.track_id in tracks else None
    if rest is not None:
        if is_moving(rest, params, noise):
            return False
    elif float(np.linalg.norm(imp.v_before)) > params.rest_speed_mps * 2:
        return False
    return float(np.linalg.norm(imp.v_after)) >= params.shot_min_speed_mps


@dataclass
class ShotState:
    """The open shot: its start and what happened since (bounded by the events of one shot)."""

    start_t: float | None = None
    start_xy: np.ndarray | None = None
    first_contact: str | None = None
    first_contact_t: float | None = None
    # Object balls set moving from rest in this shot while no other moved, (first time seen off
    # the spot, contact time, label, position, speed), until the first contact is settled
    # (``first_mover_hit``); None once it is.
    first_movers: list[tuple[float, float, str, np.ndarray, float]] | None = None
    potted: list[str] = field(default_factory=list)
    cushions: int = 0
    rest_since: float | None = None

    @property
    def open(self) -> bool:
        return self.start_t is not None

    def begin(self, t: float, xy: np.ndarray) -> None:
        self.start_t, self.start_xy, self.potted, self.cushions, self.rest_since = t, xy, [], 0, None
        self.first_contact, self.first_contact_t, self.first_movers = None, None, []

    def is_same_stroke(self, t: float, restrike_s: float) -> bool:
        """A strike at t belongs to the open shot's stroke: nobody strikes twice within restrike_s."""
        return self.start_t is not None and t - self.start_t < restrike_s

    def record(self, ev: Event, cue_label: str) -> None:
        if not self.open:
            return
        if ev.type is EventType.COLLISION and cue_label in ev.balls:
            if self.first_contact_t is None or ev.t_s < self.first_contact_t:
                self.first_contact = next((b for b in ev.balls if b != cue_label), None)
                self.first_contact_t = ev.t_s
        elif ev.type is EventType.POT:
            self.potted.append(ev.balls[0])
        elif ev.type is EventType.REBOUND:
            self.cushions += 1

    def close(self, t_end: float, cue_label: str) -> ShotSummary:
        assert self.start_t is not None
        summary = ShotSummary(
            first_contact=self.first_contact,
            potted=tuple(self.potted),
            cushions=self.cushions,
            scratch=cue_label in self.potted,
            duration_s=max(t_end - self.start_t, 0.0),
        )
        self.start_t = None
        return summary


def is_moving(fit: LineFit, params: EventParams, noise: NoiseEstimate) -> bool:
    """Faster than the rest speed, and significantly so given the tracker's jitter."""
    sigma_v = noise.sigma_m / float(np.sqrt(fit.sxx)) if fit.sxx > 0 else 0.0
    return float(np.linalg.norm(fit.velocity)) > max(params.rest_speed_mps, 3.0 * sigma_v)


def all_at_rest(tracks: Mapping[str, BallTrack], t_now: float, params: EventParams, noise: NoiseEstimate) -> bool:
    """No ball seen recently is moving (fit over rest_window_s); feeds the noise estimate."""
    at_rest = True
    for tr in tracks.values():
        if t_now - tr.last_t > params.rest_window_s:
            continue  # not visible now (potted, occluded): it is not moving on the table
        fit = tr.fit(t_now - params.rest_window_s, t_now)
        if fit is None:
            continue
        if float(np.linalg.norm(fit.velocity)) < 2 * params.rest_speed_mps:
            noise.observe(fit)  # a still ball's residuals are pure tracker jitter
        if is_moving(fit, params, noise):
            at_rest = False
    return at_rest


class CueDeparture:
    """A strike the impulse scan cannot see: the cue ball leaves its rest position too fast.

    At a hard stroke the tracker loses the cue ball: its mask lags on the cue and hand for a
    few frames, and the ball is found again far away, already moving (an observation the
    engine drops as a tracker jump, or a new track). What stays certain is the departure: a
    cue ball seen at rest, then seen ``far_m`` or more from that spot in two frames, by the
    track that rested there or by a track that was not there while it rested (another ball
    the identity classifier also calls the cue ball is neither). The strike is dated by
    projecting the two sightings back to the spot when they line up with it (a straight run
    from the cue), else where the first observation left the spot. Bounded: one rest
    position, two sightings, the ids of the cue-labelled tracks seen while it rested.
    """

    #: Consecutive frames back at the spot, before any far sighting, that end an excursion.
    SETTLE_FRAMES = 3
    #: An excursion unconfirmed for this long is dropped (s).
    MAX_EXCURSION_S = 0.5
    #: A rest position older than this (cue ball unseen at rest since) is forgotten (s).
    MAX_REST_AGE_S = 1.0
    #: A newcomer must have left the spot at most this long before its first sighting (s).
    MAX_LEAD_S = 0.25
    #: Cue-labelled track ids remembered while the ball rests (identity errors are few).
    MAX_KNOWN = 16

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.rest_xy: np.ndarray | None = None
        self.rest_t = -np.inf
        self.watch_id: str | None = None  # the track that rested at the spot
        self.known: set[str] = set()  # cue-labelled tracks present while it rested
        self.near_t = -np.inf  # last frame with the watched observations at the spot
        self.left_t: float | None = None  # when the first observation left the spot
        self.far: list[tuple[float, np.ndarray]] = []  # first and latest far sighting
        self.settled = 0
        self.pending: tuple[float, float, str] | None = None  # newcomer's (strike time, speed, track id)

    def rest_at(self, resting: dict[str, np.ndarray], t: float) -> None:
        """Cue-labelled tracks at rest now (rest fits): keep watching the same one while it rests."""
        if self.left_t is not None or not resting:
            return
        self._remember([(k, v) for k, v in resting.items()])  # resting elsewhere: other balls
        tid = self.watch_id if self.watch_id in resting else min(resting)
        self.watch_id, self.rest_xy, self.rest_t = tid, np.asarray(resting[tid], dtype=np.float64), t

    def _remember(self, seen: list[tuple[str, np.ndarray]]) -> None:
        """Cue-labelled tracks present while nothing is leaving are not the ball when it leaves."""
        for tid, _ in seen:
            if len(self.known) < self.MAX_KNOWN:
                self.known.add(tid)

    def newcomer(
        self,
        tid: str,
        sightings: tuple[tuple[float, np.ndarray], tuple[float, np.ndarray]],
        far_m: float,
        min_mps: float,
    ) -> None:
        """A track of another name, born just now, whose first two sightings run straight back
        to the resting cue ball's spot: the cue ball, struck, lost and re-found under a wrong
        name (motion blur). Only a struck ball moves while everything rests, and a straight run
        from the spot is what a struck cue ball does. Confirmed in ``observe`` after the wait."""
        if self.rest_xy is None or self.pending is not None:
            return
        (t1, p1), (t2, p2) = sightings
        if t2 <= t1 or float(np.linalg.norm(p1 - self.rest_xy)) < far_m:
            return
        v = (p2 - p1) / (t2 - t1)
        speed = float(np.linalg.norm(v))
        if speed < min_mps:
            return
        t_back, miss = back_project(self.rest_xy, t1, p1, v)
        if miss <= far_m / 2 and t1 - self.MAX_LEAD_S <= t_back <= t1:
            self.pending = (t_back, speed, tid)

    def observe(
        self, t: float, seen: list[tuple[str, np.ndarray]], dev_m: float, far_m: float, wait_s: float
    ) -> tuple[float, float, np.ndarray, str | None] | None:
        """Cue-labelled (track id, position) of the frame at t, rejected jumps included;
        (strike time, speed, rest spot, the newcomer's id or None) when a departure is confirmed.

        A departure is confirmed ``wait_s`` after the ball left at the earliest, so that a strike
        the impulse scan sees (it lags by its fit window) opens the shot first, at its exact time.
        """
        if self.pending is not None and self.rest_xy is not None and t - self.pending[0] >= wait_s:
            (t_strike, speed, tid), rest = self.pending, self.rest_xy
            self.reset()
            return t_strike, speed, rest, tid
        if self.rest_xy is None:
            self._remember(seen)
            return None
        rest = self.rest_xy
        if self.left_t is None and t - self.rest_t > self.MAX_REST_AGE_S:
            self.reset()
            return None
        xys = [xy for tid, xy in seen if tid == self.watch_id or tid not in self.known]
        if not xys:
            return None
        d = [float(np.linalg.norm(xy - rest)) for xy in xys]
        if max(d) <= dev_m:
            self.near_t = t
            if self.left_t is None:
                self._remember(seen)
            if self.left_t is not None and not self.far:
                self.settled += 1
                if self.settled >= self.SETTLE_FRAMES:  # a wobble of the mask, not a departure
                    self.left_t, self.settled = None, 0
            return None
        self.settled = 0
        if self.left_t is None:
            self.left_t = (self.near_t + t) / 2 if np.isfinite(self.near_t) else t
        if t - self.left_t > self.MAX_EXCURSION_S:
            self.reset()
            return None
        if max(d) >= far_m:
            sighting = (t, xys[int(np.argmax(d))])
            self.far = [self.far[0], sighting] if self.far else [sighting]
        if len(self.far) < 2 or self.far[-1][0] != t or t - self.left_t < wait_s:
            return None
        (t1, p1), (t2, p2) = self.far
        v = (p2 - p1) / (t2 - t1)
        t_strike, speed = self.left_t, float(np.linalg.norm(v))
        if speed > 0:
            t_back, miss = back_project(rest, t1, p1, v)
            if miss <= far_m / 2 and self.near_t - wait_s <= t_back <= t1:
                t_strike = t_back
        self.reset()
        return t_strike, speed, rest, None


def back_project(spot: np.ndarray, t1: float, p1: np.ndarray, v: np.ndarray) -> tuple[float, float]:
    """When a ball seen at p1 (time t1) moving at v passed closest to ``spot``, and how far off (m)."""
    t_back = t1 + float(np.dot(spot - p1, v)) / float(np.dot(v, v))
    return t_back, float(np.linalg.norm(p1 + v * (t_back - t1) - spot))
