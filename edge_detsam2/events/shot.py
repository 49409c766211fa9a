"""Shots and shot ends: the cue ball leaves rest from a strike; later all balls come to rest.

A strike is an impulse on the cue ball while it was at rest that no moving ball in
contact explains. The shot stays open until every ball has rested for
``shot_end_confirm_s``; a new strike closes an open shot first, unless it comes within
``restrike_s`` of the shot's own with nothing hit in between (the same stroke, seen twice
as the cue ball's mask wobbles under the cue).
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
    if imp.label != params.cue_label:
        return False
    # At rest before: judged over the longer rest window, which averages out pixel jitter.
    rest = tracks[imp.track_id].fit(imp.t_s - params.rest_window_s, imp.t_s - 1e-6) if imp.track_id in tracks else None
    if rest is not None:
        if is_moving(rest, params, noise):
            return False
    elif float(np.linalg.norm(imp.v_before)) > params.rest_speed_mps * 2:
        return False
    if float(np.linalg.norm(imp.v_after)) < params.shot_min_speed_mps:
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


@dataclass
class ShotState:
    """The open shot: its start and what happened since (bounded by the events of one shot)."""

    start_t: float | None = None
    first_contact: str | None = None
    potted: list[str] = field(default_factory=list)
    cushions: int = 0
    contacts: int = 0  # collisions, rebounds and pots since the strike
    rest_since: float | None = None

    @property
    def open(self) -> bool:
        return self.start_t is not None

    def begin(self, t: float) -> None:
        self.start_t, self.first_contact, self.potted, self.cushions, self.rest_since = t, None, [], 0, None
        self.contacts = 0

    def is_same_stroke(self, t: float, restrike_s: float) -> bool:
        """A strike at t repeats the open shot's: it comes within restrike_s and nothing was hit since."""
        return self.start_t is not None and self.contacts == 0 and t - self.start_t < restrike_s

    def record(self, ev: Event, cue_label: str) -> None:
        if not self.open:
            return
        if ev.type is not EventType.SHOT:
            self.contacts += 1
        if ev.type is EventType.COLLISION and self.first_contact is None and cue_label in ev.balls:
            self.first_contact = next((b for b in ev.balls if b != cue_label), None)
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
