"""The streaming event engine: tracks in, events out, frame by frame, bounded memory.

``EventEngine.step(frame)`` takes one ``TrackFrame`` (image pixels), maps centres to the
table plane, updates per-ball kinematics and returns the events it can now confirm.
Contact events come ``window_s`` plus one frame after they happen; pots and shot ends
after their confirmation windows.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from edge_detsam2.events.collision import collision_partners
from edge_detsam2.events.impulses import Impulse, ImpulseScanner
from edge_detsam2.events.params import EventParams
from edge_detsam2.events.pot import PotCandidate, left_by_jump, pot_candidate
from edge_detsam2.events.rebound import mirrored_rebound, rebound_cushion
from edge_detsam2.events.shot import (
    CueDeparture,
    ShotState,
    all_at_rest,
    back_project,
    is_moving,
    is_strike,
    leaves_rest,
)
from edge_detsam2.events.types import Event, EventType, utc_iso
from edge_detsam2.geometry.calibration import load_calibration
from edge_detsam2.geometry.table import TableGeometry
from edge_detsam2.kinematics import BallTrack, NoiseEstimate
from edge_detsam2.tracks import TrackFrame

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# A vanished track whose last this many sightings another track, still seen, sat on (within
# a ball radius) was a second mask on that ball: its vanishing is no pot (pot_veto_seen).
TWIN_SIGHTINGS = 3


def new_ulid(now_s: float | None = None) -> str:
    """A ULID: 48-bit millisecond time + 80 random bits, Crockford base32 (sortable, unique)."""
    ms = int((time.time() if now_s is None else now_s) * 1000)
    value = (ms << 80) | int.from_bytes(os.urandom(10), "big")
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


class EventEngine:
    """Stateful, single-table event detection over a stream of track frames."""

    def __init__(
        self,
        table: TableGeometry,
        params: EventParams | None = None,
        *,
        table_id: str = "table-1",
        first_seq: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table = table
        self.params = params or EventParams()
        self.table_id = table_id
        self.seq = first_seq - 1
        self._clock = clock
        self._tracks: dict[str, BallTrack] = {}
        self._scanners: dict[str, ImpulseScanner] = {}
        self._pending_pots: dict[str, PotCandidate] = {}
        self._recent: deque[tuple[tuple[object, ...], float]] = deque(maxlen=256)
        self._frames: deque[tuple[int, float]] = deque(maxlen=512)
        self._shot = ShotState()
        self._t_now = 0.0
        self.noise = NoiseEstimate()
        self.jumps_ignored = 0  # observations rejected as tracker jumps (max_speed_mps)
        self.repots_ignored = 0  # pots of a name already potted in the same shot
        self.restrikes_merged = 0  # strikes taken as the open shot's own stroke (restrike_s)
        self.pots_vetoed = 0  # pots of a name another track still showed on the table (pot_veto_seen)
        self._kicks: dict[str, tuple[float, np.ndarray]] = {}  # track id -> (time, dv) of a contact while unseen
        self._renamed: dict[str, str] = {}  # track id -> name the engine knows better (a departed newcomer)
        self.departure_shots = 0  # shots seen only as the cue ball leaving its spot (departure_m)
        self.first_contacts_inferred = 0  # cue-ball contacts inferred from the first ball to move (first_mover_hit)
        self.strikes_named_cue = 0  # shots of a ball struck while no track was named the cue ball (strike_names_cue)
        self._departure = CueDeparture()
        # track id -> where its mask went when it left a ball that dropped (left_by_jump)
        self._astray: dict[str, np.ndarray] = {}

    @classmethod
    def for_table(
        cls,
        calibration: Path,
        params: EventParams | None = None,
        *,
        table_id: str | None = None,
        fallback_id: str = "table-1",
        first_seq: int = 1,
    ) -> EventEngine:
        """Calibration file -> table geometry -> engine; the id is ``table_id``, else the file's, else fallback."""
        cal = load_calibration(calibration)
        table = TableGeometry.from_calibration(cal)
        return cls(table, params, table_id=table_id or cal.table_id or fallback_id, first_seq=first_seq)

    # -- public ------------------------------------------------------------------
    def step(self, frame: TrackFrame) -> list[Event]:
        """Consume one frame; return the events confirmed by it, in detection order."""
        t = frame.t_s
        self._t_now = t
        self._frames.append((frame.frame, t))
        seen = set()
        cue_seen: list[tuple[str, np.ndarray]] = []
        for obj in frame.objects:
            xy = self.table.homography.to_table(np.array([obj.cx, obj.cy]))
            label = self._renamed.get(obj.id, obj.label)
            if label == self.params.cue_label:
                cue_seen.append((obj.id, xy))  # rejected jumps too: a lost cue ball found far away
            if self._jumped(obj.id, label, t, xy):
                self.jumps_ignored += 1
                continue
            self._observe(obj.id, label, t, xy)
            seen.add(obj.id)
        out: list[Event] = []
        p, sigma = self.params, self.noise.sigma_m
        for tid in sorted(self._tracks):
            scanner, track = self._scanners[tid], self._tracks[tid]
            # A ball whose mask jitters more than the others (a neighbour bleeding into it) is
            # judged against its own noise: its jitter is not an impulse.
            noise = max(sigma, track.jitter_m())
            for imp in scanner.scan(track, t, p.window_s, p.impulse_min_mps, noise, p.significance):
                out += self._classify(imp)
        if p.mirror_min_speed_mps > 0:
            out += self._watch_mirrors(t, seen)
        out += self._watch_departure(t, cue_seen, seen)
        out += self._watch_unnamed_cue(t, seen)
        out += self._watch_first_mover(t)
        out += self._update_pots(t, seen)
        out += self._update_shot_end(t)
        self._retire(t)
        return out

    def flush(self) -> list[Event]:
        """End of stream: confirm pending pots and close an open shot."""
        out: list[Event] = []
        for cand in list(self._pending_pots.values()):
            out += self._emit_pot(cand)
        self._pending_pots.clear()
        if self._shot.open:
            t_end = self._shot.rest_since if self._shot.rest_since is not None else self._t_now
            out += self._close_shot(t_end)
        return out

    def run(self, frames: Iterable[TrackFrame]) -> Iterator[Event]:
        for fr in frames:
            yield from self.step(fr)
        yield from self.flush()

    @property
    def shot_in_progress(self) -> bool:
        return self._shot.open

    @property
    def tracked(self) -> int:
        """Number of balls currently held in memory (bounded by what is on the table)."""
        return len(self._tracks)

    # -- internals ---------------------------------------------------------------
    def _jumped(self, tid: str, label: str, t: float, xy: np.ndarray) -> bool:
        """Faster than any ball since this track's last observation, or out of reach of a ball
        whose path since then went into a pocket (``left_by_jump``): the tracker jumped. After a
        jump of the second kind, sightings nearer where the mask went than where the ball was
        are the other ball too. The track stays unseen, so its ball is potted as its path says,
        unless the mask comes back to it (a ball off the jaw) before the pot is confirmed."""
        tr = self._tracks.get(tid)
        if tr is None or tr.label != label or t <= tr.last_t:
            return False
        if float(np.linalg.norm(xy - tr.last_xy)) > self.params.max_speed_mps * (t - tr.last_t):
            return True
        astray = self._astray.get(tid)
        if (astray is not None and np.linalg.norm(xy - astray) < np.linalg.norm(xy - tr.last_xy)) or left_by_jump(
            tr, t, xy, self.table, self.params
        ):
            self._astray[tid] = xy
            return True
        return False

    def _observe(self, tid: str, label: str, t: float, xy: np.ndarray) -> None:
        tr = self._tracks.get(tid)
        if tr is None or tr.label != label or t - tr.last_t > self.params.retire_after_s:
            tr = BallTrack(tid, label, self.params.history_s)
            self._tracks[tid] = tr
            self._scanners[tid] = ImpulseScanner()
        tr.add(t, xy)
        self._astray.pop(tid, None)
        self._pending_pots.pop(tid, None)  # it came back: not potted

    def _classify(self, imp: Impulse) -> list[Event]:
        p, R = self.params, self.table.ball_radius_m
        if p.first_mover_hit and imp.label != p.cue_label:
            self._note_first_mover(imp)
        if is_strike(imp, self._tracks, R, p, self.noise):
            if self._shot.is_same_stroke(imp.t_s, p.restrike_s):
                self.restrikes_merged += 1
                return []
            return self._open_shot(imp.t_s, imp.xy_m, float(np.linalg.norm(imp.v_after)))
        partners = collision_partners(imp, self._tracks, R, p)
        if partners:
            out = []
            for other, xy, vel in partners:
                if other.last_t < imp.t_s:  # hit while unseen: where it goes next is known from this ball
                    self._kicks[other.id] = (imp.t_s, -imp.dv)
                rel = float(np.linalg.norm(vel - imp.v_before))
                balls = _order(imp.label, other.label, p.cue_label)
                out += self._emit(EventType.COLLISION, imp.t_s, balls, (imp.xy_m + xy) / 2, rel)
            return out
        cushion = rebound_cushion(imp, self.table, p)
        if cushion is not None:
            speed = float(np.linalg.norm(imp.v_before))
            return self._emit(EventType.REBOUND, imp.t_s, (imp.label,), imp.xy_m, speed, cushion=cushion)
        return []

    def _note_first_mover(self, imp: Impulse) -> None:
        """Keep ``imp`` as a first-mover candidate of the open shot (``first_mover_hit``): it sets
        a resting object ball moving while no other object ball moves. Dated within the frames
        that bracket its departure (the last sighting on its spot, the first off it): a ball
        driven into a cushion within a frame gets a refined impulse time before it left."""
        shot, p = self._shot, self.params
        movers, tr = shot.first_movers, self._tracks.get(imp.track_id)
        if movers is None or shot.start_t is None or imp.t_s <= shot.start_t or tr is None:
            return
        if not leaves_rest(imp, self._tracks, p, self.noise):
            return
        ts, ps = tr.window(imp.t_s - p.rest_window_s, imp.t_s + p.window_s)
        before = ts < imp.t_s
        if not before.any():
            return
        spot = np.median(ps[before], axis=0)
        i = first_off_spot(ps, spot, self._at_spot_m())
        if i in (0, len(ps)):
            return
        t_rest, t_away = float(ts[i - 1]), float(ts[i])
        for other in self._tracks.values():
            if other.id == tr.id or other.label == p.cue_label:
                continue
            fit = other.fit(t_rest - p.window_s, t_rest)
            if fit is not None and fit.n >= 3 and is_moving(fit, p, self.noise):
                return  # another ball was moving: it may have hit this one
        t_hit = min(max(imp.t_s, t_rest), t_away)
        label, xy = self._chain_root(tr.id, spot, imp.v_after, t_rest)
        movers.append((t_away, t_hit, label, xy, float(np.linalg.norm(imp.v_after))))

    def _chain_root(self, tid: str, xy: np.ndarray, v: np.ndarray, t: float) -> tuple[str, np.ndarray]:
        """The ball that took the hit which set ``tid`` moving along v from rest at xy: walking
        back through resting balls in contact behind it (a push through a rack, a Newton's
        cradle, passes through balls that barely move), the last one has nothing behind it."""
        p, R = self.params, self.table.ball_radius_m
        d = v / max(float(np.linalg.norm(v)), 1e-9)
        rest: dict[str, tuple[str, np.ndarray]] = {}
        for other in self._tracks.values():
            if other.id == tid or other.label == p.cue_label:
                continue
            ts, ps = other.window(t - p.window_s, t)
            if len(ts):
                rest[other.id] = (other.label, np.median(ps, axis=0))
        label, seen = self._tracks[tid].label, {tid}
        while True:
            best: tuple[float, str] | None = None
            for oid, (_, oxy) in rest.items():
                off = xy - oxy
                dist = float(np.linalg.norm(off))
                if oid in seen or dist < 1e-9 or dist > 2 * R + p.contact_tolerance_m:
                    continue
                cos = float(np.dot(off, d)) / dist
                if cos >= p.alignment and (best is None or cos > best[0]):
                    best = (cos, oid)
            if best is None:
                return label, xy
            seen.add(best[1])
            label, xy = rest[best[1]]

    def _watch_first_mover(self, t: float) -> list[Event]:
        """The first object ball to leave rest in a shot was hit by the cue ball: nothing else
        moved yet. When no cue-ball contact of that moment was seen (the cue ball too fast or
        too close to be tracked through it), that collision is inferred (``first_mover_hit``).
        Decided 1.5 fit windows after the first mover was seen off its spot, once the cue
        ball's own impulses are in; of balls first seen off their spots in the same frame (a
        rack), the one nearest the cue ball was hit."""
        shot, p = self._shot, self.params
        movers = shot.first_movers
        if not movers:
            return []
        t0 = min(m[0] for m in movers)
        if t - t0 < 1.5 * p.window_s:
            return []
        shot.first_movers = None  # settled, one way or the other
        if shot.first_contact_t is not None and shot.first_contact_t <= t0 + p.window_s / 4:
            return []
        group = [m for m in movers if m[0] <= t0 + p.window_s / 4]
        cue_xy = self._cue_position(min(m[1] for m in group))
        _, t_hit, label, xy, speed = min(group, key=lambda m: float(np.linalg.norm(m[3] - cue_xy)))
        self.first_contacts_inferred += 1
        return self._emit(EventType.COLLISION, t_hit, (p.cue_label, label), xy, speed)

    def _cue_position(self, t: float) -> np.ndarray:
        """Where the cue ball was last seen at or before t; the shot's strike spot if nowhere."""
        best: tuple[float, np.ndarray] | None = None
        for tr in self._tracks.values():
            if tr.label != self.params.cue_label:
                continue
            ts, ps = tr.window(-np.inf, t)
            if len(ts) and (best is None or ts[-1] > best[0]):
                best = (float(ts[-1]), ps[-1])
        if best is not None:
            return best[1]
        assert self._shot.start_xy is not None
        return self._shot.start_xy

    def _watch_mirrors(self, t: float, seen: set[str]) -> list[Event]:
        """Rebounds between a fast ball's last two sightings (``mirrored_rebound``)."""
        out: list[Event] = []
        for tid in sorted(seen):
            tr = self._tracks[tid]
            ts, ps = tr.window(t - 3 * self.params.window_s, t)
            if len(ts) < 3 or ts[-1] != t or np.any(np.diff(ts[-3:]) > 0.7 * self.params.window_s):
                continue
            hit = mirrored_rebound(ts[-3:], ps[-3:], self.table, self.params)
            if hit is not None:
                t_hit, xy, cushion = hit
                speed = float(np.linalg.norm(ps[-2] - ps[-3]) / (ts[-2] - ts[-3]))
                out += self._emit(EventType.REBOUND, t_hit, (tr.label,), xy, speed, cushion=cushion)
        return out

    def _watch_unnamed_cue(self, t: float, seen: set[str]) -> list[Event]:
        """No track is named the cue ball, no shot is open, and a ball that rested is seen far
        from its spot in its last two sightings (a hard stroke the impulse scan cannot see: the
        ball was lost for frames): it is the cue ball, struck. Dated as ``departure_m`` dates a
        cue ball's departure."""
        p = self.params
        if p.departure_m <= 0 or not p.strike_names_cue or self._shot.open:
            return []
        # A track named the cue ball blocks the rule if it was there while the ball rested; one
        # born since is the struck ball re-found.
        cue_born = min((tr.times()[0] for tr in self._tracks.values() if tr.label == p.cue_label), default=np.inf)
        dev_m = self._at_spot_m()
        found: list[tuple[float, str, np.ndarray, float]] = []
        for tid in sorted(seen):
            tr = self._tracks[tid]
            ts, ps = tr.window(t - p.history_s, t)
            if len(ts) < 7 or ts[-1] != t:
                continue
            t_rest = ts[-3]
            if tr.label == p.cue_label or cue_born <= t_rest:
                continue
            rest = (ts >= t_rest - p.rest_window_s) & (ts <= t_rest)
            rest_ts, rest_ps = ts[rest], ps[rest]
            spot = np.median(rest_ps, axis=0)  # robust to the mask lingering on the cue tip at the end
            i = first_off_spot(rest_ps, spot, dev_m)  # sightings before i: at rest on the spot
            if i < 5:
                continue  # it did not rest there
            (t1, p1), (t2, p2) = (ts[-2], ps[-2]), (ts[-1], ps[-1])
            if min(float(np.linalg.norm(p1 - spot)), float(np.linalg.norm(p2 - spot))) < p.departure_m:
                continue
            v = (p2 - p1) / (t2 - t1)
            speed = float(np.linalg.norm(v))
            if speed < p.shot_min_speed_mps:
                continue
            # It left where its sightings stopped being at the spot (the mask may linger on the
            # cue tip for frames), unless the far sightings run straight back to the spot.
            t_strike = (rest_ts[i - 1] + (rest_ts[i] if i < len(rest_ts) else t1)) / 2
            t_back, miss = back_project(spot, t1, p1, v)
            if miss <= p.departure_m / 2 and t_rest - 1.5 * p.window_s <= t_back <= t1:
                t_strike = t_back
            found.append((t_strike, tid, spot, speed))
        if not found:
            return []
        t_strike, tid, spot, speed = min(found, key=lambda f: f[0])  # the first to leave was struck
        return self._name_cue(tid, t_strike, spot, speed)

    def _at_spot_m(self) -> float:
        """How far a resting ball's sightings may stray and still be at its spot (m)."""
        return max(0.5 * self.table.ball_radius_m, 4.0 * self.noise.sigma_m)

    def _name_cue(self, tid: str, t: float, xy: np.ndarray, speed: float) -> list[Event]:
        """``tid`` is the cue ball under a wrong name, struck at t: call it the cue ball from now on."""
        self.strikes_named_cue += 1
        self._tracks[tid].label = self.params.cue_label
        self._renamed[tid] = self.params.cue_label
        return self._open_shot(t, xy, speed)

    def _watch_departure(self, t: float, cue_seen: list[tuple[str, np.ndarray]], seen: set[str]) -> list[Event]:
        """A shot from the cue ball leaving its rest spot, when the impulse scan missed the strike."""
        p = self.params
        if p.departure_m <= 0 or self._shot.open:
            self._departure.reset()
            return []
        resting = {}
        for tid in seen:
            tr = self._tracks[tid]
            if tr.label == p.cue_label:
                fit = tr.fit(t - p.rest_window_s, t)
                if fit is not None and fit.n >= 5 and not is_moving(fit, p, self.noise):
                    resting[tid] = fit.at(t)
        self._departure.rest_at(resting, t)
        dev_m = self._at_spot_m()
        for tid in seen:
            tr = self._tracks[tid]
            if tr.label != p.cue_label and len(tr) == 2:
                ts, ps = tr.window(-np.inf, t)
                self._departure.newcomer(tid, ((ts[0], ps[0]), (ts[1], ps[1])), p.departure_m, p.shot_min_speed_mps)
        found = self._departure.observe(t, cue_seen, dev_m, p.departure_m, 1.5 * p.window_s)
        if found is None:
            return []
        t_strike, speed, spot, newcomer = found
        self.departure_shots += 1
        if newcomer is not None and newcomer in self._tracks:
            # It is the cue ball under a wrong name: call it the cue ball from now on.
            self._tracks[newcomer].label = p.cue_label
            self._renamed[newcomer] = p.cue_label
        return self._open_shot(t_strike, spot, speed)

    def _open_shot(self, t: float, xy: np.ndarray, speed: float) -> list[Event]:
        """A strike at t: close the open shot (if any), open a new one and emit its ``shot``."""
        out = self._close_shot(t) if self._shot.open else []
        self._shot.begin(t, xy)
        return out + self._emit(EventType.SHOT, t, (self.params.cue_label,), xy, speed)

    def _update_pots(self, t: float, seen: set[str]) -> list[Event]:
        out: list[Event] = []
        for tid, tr in self._tracks.items():
            if tid in seen or tid in self._pending_pots:
                continue
            cand = pot_candidate(tr, t, self.table, self.params, self._kicks.get(tid))
            if cand is not None:
                self._pending_pots[tid] = cand
        for tid, cand in list(self._pending_pots.items()):
            if t - cand.last_seen_s >= self.params.pot_confirm_s:
                del self._pending_pots[tid]
                duplicate = self.params.pot_veto_seen and self._still_seen(tid, cand)
                self._tracks.pop(tid, None)
                self._scanners.pop(tid, None)
                self._kicks.pop(tid, None)
                self._astray.pop(tid, None)
                renamed = self._renamed.pop(tid, None)
                if renamed is not None:  # the departed cue ball: named by where it came from, not by a vote
                    cand = dataclasses.replace(cand, label=renamed)
                elif duplicate:
                    self.pots_vetoed += 1  # that ball is still on the table: the vanished track was a duplicate
                    continue
                out += self._emit_pot(cand)
        return out

    def _still_seen(self, tid: str, cand: PotCandidate) -> bool:
        """The ball ``tid`` showed is still on the table (``pot_veto_seen``): another track of its
        name is seen after it vanished, or another track sat on it to the end."""
        same_name = any(
            o.label == cand.label and o.id != tid and o.id not in self._pending_pots and o.last_t > cand.last_seen_s
            for o in self._tracks.values()
        )
        return same_name or self._twin_seen(tid, cand.last_seen_s)

    def _twin_seen(self, tid: str, last_seen_s: float) -> bool:
        """Another track, still seen after ``tid`` vanished, ran on top of it (centres within one
        ball radius) on each of its last ``TWIN_SIGHTINGS`` sightings: two masks on one ball,
        whatever their names. Two balls cannot be that close, so ``tid`` was the duplicate."""
        ts, ps = self._tracks[tid].window(-np.inf, last_seen_s)
        if len(ts) < TWIN_SIGHTINGS:
            return False
        ts, ps = ts[-TWIN_SIGHTINGS:], ps[-TWIN_SIGHTINGS:]
        for other in self._tracks.values():
            if other.id == tid or other.id in self._pending_pots or other.last_t <= last_seen_s:
                continue
            ots, ops = other.window(ts[0], ts[-1])
            if len(ots) != len(ts) or not np.allclose(ots, ts, atol=1e-6):
                continue
            if float(np.max(np.linalg.norm(ops - ps, axis=1))) <= self.table.ball_radius_m:
                return True
        return False

    def _emit_pot(self, cand: PotCandidate) -> list[Event]:
        if self._shot.open and cand.label in self._shot.potted:
            # Potted already in this shot: a track of the same name, re-detected and lost again.
            self.repots_ignored += 1
            return []
        return self._emit(EventType.POT, cand.t_s, (cand.label,), cand.xy_m, cand.speed_mps, pocket=cand.pocket.id)

    def _update_shot_end(self, t: float) -> list[Event]:
        if not self._shot.open:
            return []
        at_rest = all_at_rest(self._tracks, t, self.params, self.noise)
        if not at_rest or self._pending_pots:
            self._shot.rest_since = None
            return []
        if self._shot.rest_since is None:
            # The rest fit lags by about half its window: date the rest from the window's middle.
            self._shot.rest_since = max(t - self.params.rest_window_s / 2, self._shot.start_t or 0.0)
        if t - self._shot.rest_since >= self.params.shot_end_confirm_s:
            return self._close_shot(self._shot.rest_since)
        return []

    def _close_shot(self, t_end: float) -> list[Event]:
        summary = self._shot.close(t_end, self.params.cue_label)
        return self._emit(EventType.SHOT_END, t_end, (), None, None, summary=summary)

    def _retire(self, t: float) -> None:
        for tid in [k for k, tr in self._tracks.items() if t - tr.last_t > self.params.retire_after_s]:
            self._renamed.pop(tid, None)
            self._kicks.pop(tid, None)
            self._astray.pop(tid, None)
            del self._tracks[tid]
            del self._scanners[tid]
            self._pending_pots.pop(tid, None)
        while self._recent and t - self._recent[0][1] > 10 * self.params.merge_s + self.params.window_s:
            self._recent.popleft()

    def _frame_at(self, t: float) -> int:
        for frame, ft in self._frames:
            if ft >= t - 1e-9:
                return frame
        return self._frames[-1][0]

    def _emit(
        self,
        etype: EventType,
        t: float,
        balls: tuple[str, ...],
        xy: np.ndarray | None,
        speed: float | None,
        **extra: object,
    ) -> list[Event]:
        key = (etype, tuple(sorted(balls)), extra.get("cushion"), extra.get("pocket"))
        if any(k == key and abs(t - kt) < self.params.merge_s for k, kt in self._recent):
            return []
        self._recent.append((key, t))
        self.seq += 1
        now = self._clock()
        ev = Event(
            type=etype,
            t_s=max(t, 0.0),
            frame=self._frame_at(t),
            balls=balls,
            table=self.table_id,
            id=new_ulid(now),
            seq=self.seq,
            ts=utc_iso(now),
            position_m=(float(xy[0]), float(xy[1])) if xy is not None else None,
            speed_mps=speed,
            confidence=1.0,
            **extra,  # type: ignore[arg-type]
        )
        self._shot.record(ev, self.params.cue_label)
        return [ev]


def first_off_spot(ps: np.ndarray, spot: np.ndarray, dev_m: float) -> int:
    """Index of the first sighting farther than ``dev_m`` from ``spot``; len(ps) if none is."""
    away = np.flatnonzero(np.linalg.norm(ps - spot, axis=1) > dev_m)
    return int(away[0]) if len(away) else len(ps)


def _order(a: str, b: str, cue_label: str) -> tuple[str, str]:
    """Cue ball first, then by label, so a pair always reads the same."""
    return tuple(sorted((a, b), key=lambda s: (s != cue_label, len(s), s)))  # type: ignore[return-value]
