"""Self-prompted tracking (the Det-SAM2 core): detector -> prompts -> streaming SAM2.

Every ``detect_interval`` frames the detector runs; its boxes are matched to the tracked
masks of the previous frame. Unmatched confident boxes start new objects (no reset),
matched objects whose mask drifted from their box are re-prompted, and objects SAM2 has
not seen for ``absent_s`` are retired. Static classes (pockets) are passed through.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.detector.types import Detections
from edge_detsam2.frame import Frame
from edge_detsam2.tracker.association import associate, box_iou, box_sizes
from edge_detsam2.tracker.identity import IdentityVotes, evidence_of
from edge_detsam2.tracker.params import TrackerParams
from edge_detsam2.tracker.session import TrackedMasks, TrackingSession
from edge_detsam2.tracks import TrackedObject, TrackFrame


class Detector(Protocol):
    def detect(self, frame_rgb: NDArray[np.uint8]) -> Detections: ...


@dataclass(frozen=True)
class TrackerOutput:
    masks: TrackedMasks
    static: Detections  # latest detections of static classes (pockets)
    detections: Detections | None  # this frame's detections, if the detector ran
    unconfirmed: frozenset[int] = frozenset()  # objects left out of the outputs (see TrackerParams.confirm_s)
    detect_ms: float = 0.0  # time the detector took on this frame (0 when it did not run)


#: Two objects whose detections name each other swap names only within this many ball sizes.
SWAP_REACH = 3.0


class Tracker:
    """Detector-prompted streaming SAM2 for one camera.

    Lifetimes (``absent_s``, ``confirm_s``) are measured in seconds of the frames' source
    time (``Frame.t_s``), so a live camera that drops frames does not stretch them.
    """

    def __init__(self, session: TrackingSession, detector: Detector | None, params: TrackerParams) -> None:
        self.session, self.detector, self.params = session, detector, params
        self._next_id = max(session.object_ids, default=-1) + 1
        self._last: TrackedMasks | None = None
        self._mask_boxes: dict[int, NDArray[np.float64]] = {}  # last frame's mask box per object (NaN: none)
        self._t = 0.0  # source time of the current frame (s)
        self._period = 0.0  # source time between the last two frames (s)
        self._last_seen: dict[int, float] = {o: 0.0 for o in session.object_ids}
        self._confirmed: dict[int, float] = {}  # object -> source time a detection last matched it
        self._seen: dict[int, tuple[int, NDArray[np.float64]]] = {}  # object -> (frame, mask box) last seen
        self._prompted: set[int] = set()  # objects prompted on the current frame
        self._static = Detections.empty()
        self._frame = -1  # frames processed (the detection schedule counts these)
        self.duplicates_dropped = 0
        self.masks_jumped = 0  # objects dropped for a mask that jumped onto another ball (jump_reach)
        self.votes = IdentityVotes(
            switch_margin=params.identity_switch_margin,
            unique=params.unique_identities,
            decay=params.identity_decay,
        )

    @property
    def label_changes(self) -> int:
        """How many times a live track was renamed by its identity vote (stats)."""
        return self.votes.changes

    def step(self, frame: Frame) -> TrackerOutput:
        if self._frame >= 0 and frame.t_s > self._t:
            self._period = frame.t_s - self._t
        self._t = frame.t_s
        self._frame += 1
        self._prompted = set()
        dets, detect_ms = None, 0.0
        p = self.params
        if self.detector is not None and p.detect_interval > 0 and self._frame % p.detect_interval == 0:
            t0 = time.perf_counter()
            dets = self.detector.detect(frame.image_rgb)
            detect_ms = (time.perf_counter() - t0) * 1e3
            self._prompt(dets)
        masks = self.session.step(frame.image_rgb)
        jumped = self._find_jumps(masks)
        # Computed before retiring: a ghost retired on this frame is not shown on it either.
        hidden = self._unconfirmed(masks) | jumped
        for obj_id in jumped:
            self._drop(obj_id)
        self._retire_absent(masks, hidden)
        self._last = masks
        return TrackerOutput(masks, self._static, dets, hidden, detect_ms)

    def _prompting(self) -> bool:
        return self.detector is not None and self.params.detect_interval > 0

    def _unconfirmed(self, masks: TrackedMasks) -> frozenset[int]:
        """Objects no detection has matched for confirm_s (only while a detector prompts)."""
        p = self.params
        if p.confirm_s is None or not self._prompting():
            return frozenset()
        limit = max(p.confirm_s, p.detect_interval * self._period)  # never shorter than the detection schedule
        return frozenset(o for o in masks.obj_ids if self._t - self._confirmed.get(o, self._t) > limit + 1e-9)

    def _find_jumps(self, masks: TrackedMasks) -> frozenset[int]:
        """Objects whose unprompted mask moved farther than ``jump_reach`` box sizes a frame.

        SAM2 follows a ball a few sizes a frame at most; between detections a larger move means
        the object lost its ball (into a pocket, behind a hand) and its memories matched another
        one. Such an object is dropped: a potted ball must not reappear as its neighbour, nor
        keep its name from the track that follows its ball. If its ball is still on the table,
        the next detection of it starts a new object.
        """
        reach = self.params.jump_reach
        if reach is None or not self._prompting():
            return frozenset()
        jumped = set()
        for obj_id, box, here in zip(masks.obj_ids, masks.boxes_px(), masks.present(), strict=True):
            if not here or np.isnan(box[0]):
                continue
            seen = self._seen.get(obj_id)
            self._seen[obj_id] = (self._frame, box)
            if seen is None or obj_id in self._prompted:
                continue
            frames, last = self._frame - seen[0], seen[1]
            if _distance(last, box) > reach * frames * max(_size(box), _size(last)):
                jumped.add(obj_id)
        self.masks_jumped += len(jumped)
        return frozenset(jumped)

    def _prompt(self, dets: Detections) -> None:
        p = self.params
        keep = np.array([lb not in p.skip_classes for lb in dets.labels], dtype=bool)
        weak = dets.select(keep & (dets.scores < p.detect_confidence))
        dets = dets.select(keep & (dets.scores >= p.detect_confidence))
        static = np.array([lb in p.static_classes for lb in dets.labels], dtype=bool)
        if static.any():
            self._static = dets.select(static)
        balls = dets.select(~static)
        last = self._last
        live = list(self.session.object_ids)
        self._mask_boxes = {}
        trk_ids: tuple[int, ...] = ()
        trk_boxes = np.zeros((0, 4))
        trk_labels: tuple[str, ...] = ()
        if last is not None and len(last.obj_ids):
            boxes = last.boxes_px()
            self._mask_boxes = dict(zip(last.obj_ids, boxes, strict=True))
            # Objects dropped on the last frame (jumps, ghosts) are not matched, nor brought back.
            ok = ~np.isnan(boxes[:, 0]) & np.isin(np.asarray(last.obj_ids), live)
            trk_ids = tuple(i for i, k in zip(last.obj_ids, ok, strict=True) if k)
            trk_boxes = boxes[ok]
            trk_labels = tuple(lb for lb, k in zip(last.labels, ok, strict=True) if k)
        trk_ids, trk_boxes, trk_labels, dups = _split_duplicates(
            balls, trk_ids, trk_boxes, trk_labels, p.duplicate_iou, p.match_iou
        )
        labels_for_match = balls.labels if p.match_classes else ("ball",) * len(balls)
        trk_for_match = trk_labels if p.match_classes else ("ball",) * len(trk_labels)
        matches = associate(
            balls.boxes,
            labels_for_match,
            trk_boxes,
            trk_for_match,
            min_iou=p.match_iou,
            max_distance=p.match_distance,
            names=(balls.labels, trk_labels),
        )
        matched = {d for d, _, _ in matches}
        self._swap_crossed(matches, balls, trk_ids)
        for d, t, iou in matches:
            self._vote(trk_ids[t], balls, d)
            if iou < p.reanchor_iou or p.reprompt_every_detection:
                self._prompt_one(trk_ids[t], balls.boxes[d])
        # Unmatched detections go first to unmatched objects of the same identity (nearest first):
        # a fast ball's box may be far from its last mask, or the mask may be lost. Only
        # detections left over after that start new objects (several instances of a class).
        free = {t for t in range(len(trk_ids))} - {t for _, t, _ in matches}
        free -= self._confirm_weak(weak, balls, trk_ids, trk_boxes, free)
        # Lost objects (empty mask) and duplicates (a second mask on a ball another object holds).
        lost = (
            [(o, lb, None) for o, lb in zip(last.obj_ids, last.labels, strict=True) if o not in trk_ids and o in live]
            if last
            else []
        )
        spare = [(trk_ids[t], trk_labels[t], trk_boxes[t]) for t in sorted(free)] + lost
        shadows = _shadows(spare, balls.boxes[sorted(matched)]) if p.shadow_reach > 0 else []
        tracked = set(self.session.object_ids)
        for d in np.argsort(-balls.scores):
            if d in matched or balls.scores[d] < p.new_object_confidence:
                continue
            candidates = [c for c in spare if c[1] == balls.labels[d]]
            if not candidates:
                # No free track of its name: a track whose mask was left behind on another ball
                # (SAM2 lost a fast ball there) takes it, nearest first, before a new object starts.
                candidates = [
                    c
                    for c in shadows
                    if c in spare and _distance(c[2], balls.boxes[d]) <= p.shadow_reach * _size(balls.boxes[d])
                ]
            if candidates:
                obj = min(candidates, key=lambda c: _distance(c[2], balls.boxes[d]))
                spare.remove(obj)
                self._vote(obj[0], balls, d)
                self._prompt_one(obj[0], balls.boxes[d])
            elif len(tracked) < p.max_objects:
                self._vote(self._next_id, balls, d)
                self._prompt_one(self._next_id, balls.boxes[d])
                tracked.add(self._next_id)
                self._last_seen[self._next_id] = self._t
                self._next_id += 1
        for obj_id in dups:
            if any(c[0] == obj_id for c in spare):
                # No detection of its own identity took it back: it only shadows another ball.
                self._drop(obj_id)
                self.duplicates_dropped += 1
        for obj_id, label in self.votes.decide().items():
            self.session.set_label(obj_id, label)

    def _swap_crossed(self, matches: list[tuple[int, int, float]], balls: Detections, trk_ids: tuple[int, ...]) -> None:
        """Swap the names of two objects whose masks swapped balls (the balls passed close).

        Each object's detection names the other one, surely (``swap_confidence``), and the two
        are within ``SWAP_REACH`` balls: a crossing. The vote would rename both only after a few
        detections, and meanwhile a ball dropping into a pocket leaves under the other's name.
        """
        p = self.params
        if p.swap_confidence is None or len(matches) < 2:
            return
        labels = dict(self.votes.labels)  # before any swap
        claims: dict[int, tuple[str, int]] = {}  # object -> (name its detection gives, detection)
        for d, t, _ in matches:
            obj, name = trk_ids[t], balls.labels[d]
            if labels.get(obj, name) != name and _sureness(balls, d) >= p.swap_confidence:
                claims[obj] = (name, d)
        holder = {labels[o]: o for o in claims}
        for a, (name, d) in claims.items():
            b = holder.get(name)
            if b is None or a > b or claims[b][0] != labels[a]:
                continue
            if _distance(balls.boxes[d], balls.boxes[claims[b][1]]) > SWAP_REACH * _size(balls.boxes[d]):
                continue
            self.votes.swap(a, b)
            self.session.set_label(a, labels[b])
            self.session.set_label(b, labels[a])

    def _confirm_weak(
        self,
        weak: Detections,
        balls: Detections,
        trk_ids: tuple[int, ...],
        trk_boxes: NDArray[np.float64],
        free: set[int],
    ) -> set[int]:
        """Free objects a detection below ``detect_confidence`` confirms (ByteTrack's second pass).

        A ball on a pocket's rim scores low; the object whose mask box it overlaps by
        ``match_iou`` is still that ball, and leaving it out of the outputs would read as a pot.
        Only weak boxes within one ball of a detected pocket count, and none on a ball a
        confident detection covers. Confirms only: no prompt, no vote, no new object.
        """
        p = self.params
        if p.confirm_confidence is None or not free or len(weak) == 0:
            return set()
        weak = weak.select(
            (weak.scores >= p.confirm_confidence) & np.array([lb not in p.static_classes for lb in weak.labels])
        )
        if len(balls):
            weak = weak.select(box_iou(weak.boxes, balls.boxes).max(axis=1, initial=0.0) < p.match_iou)
        # Only beside a pocket: elsewhere (a break's cluster) a weak box over a mask left behind
        # on a ball would keep that ghost in the outputs.
        weak = weak.select(_beside(weak.boxes, self._static.boxes))
        order = sorted(free)
        matches = associate(
            weak.boxes,
            ("ball",) * len(weak),
            trk_boxes[order],
            ("ball",) * len(order),
            min_iou=p.match_iou,
            max_distance=0.0,
        )
        for _, t, _ in matches:
            self._confirmed[trk_ids[order[t]]] = self._t
        return {order[t] for _, t, _ in matches}

    def _vote(self, obj_id: int, dets: Detections, d: int) -> None:
        self._confirmed[obj_id] = self._t
        probs = None if dets.identity is None else dets.identity[d]
        self.votes.observe(obj_id, evidence_of(dets.labels[d], float(dets.scores[d]), probs, dets.identity_names))

    def _prompt_one(self, obj_id: int, box: NDArray[np.float64]) -> None:
        self._prompted.add(obj_id)
        self.session.add_box(
            obj_id,
            box,
            self.votes.labels.get(obj_id, ""),
            as_mask=self.params.prompt == "mask",
            restart=self._far(obj_id, box),
        )

    def _far(self, obj_id: int, box: NDArray[np.float64]) -> bool:
        """Is ``box`` beyond ``restart_reach`` ball sizes from the object's mask (or has it no mask)?"""
        reach, own = self.params.restart_reach, self._mask_boxes.get(obj_id)
        if reach is None or own is None:
            return False  # a new object, or one not tracked on the last frame: nothing to forget
        return bool(np.isnan(own[0])) or _distance(own, box) > reach * _size(box)

    def _retire_absent(self, masks: TrackedMasks, unconfirmed: frozenset[int]) -> None:
        limit = self.params.absent_s + 1e-9
        live = set(self.session.object_ids)
        for obj_id, present in zip(masks.obj_ids, masks.present(), strict=True):
            if obj_id not in live:
                continue  # dropped on this frame already (a jump)
            if obj_id in unconfirmed and self._t - self._confirmed.get(obj_id, self._t) > limit:
                self._drop(obj_id)  # no detection for absent_s: SAM2 alone is following a ghost
                continue
            if present or obj_id not in self._last_seen:
                self._last_seen[obj_id] = self._t
            elif self._t - self._last_seen[obj_id] > limit:
                self._drop(obj_id)

    def _drop(self, obj_id: int) -> None:
        self.session.remove(obj_id)
        self.votes.forget(obj_id)
        self._confirmed.pop(obj_id, None)
        self._last_seen.pop(obj_id, None)
        self._seen.pop(obj_id, None)


def _split_duplicates(
    balls: Detections,
    trk_ids: tuple[int, ...],
    trk_boxes: NDArray[np.float64],
    trk_labels: tuple[str, ...],
    min_iou: float,
    det_iou: float,
) -> tuple[tuple[int, ...], NDArray[np.float64], tuple[str, ...], set[int]]:
    """Separate objects whose masks sit on a ball another object also holds.

    A fast ball that SAM2 loses is often followed onto a neighbour, and two masks then share
    one ball: their boxes overlap by ``min_iou`` or more. Of such a group, on a detected ball
    (box IoU >= ``det_iou``), the object named like the detection (else the best overlap) keeps
    it; the others are returned as duplicates. Groups no detection covers are left alone.
    """
    if len(balls) == 0 or len(trk_ids) < 2:
        return trk_ids, trk_boxes, trk_labels, set()
    pair = box_iou(trk_boxes, trk_boxes)
    det = box_iou(balls.boxes, trk_boxes)
    dups: set[int] = set()
    for a in range(len(trk_ids)):
        group = [b for b in np.flatnonzero(pair[a] >= min_iou) if trk_ids[b] not in dups]
        if len(group) < 2 or a not in group:
            continue
        d = int(np.argmax(det[:, group].max(axis=1)))
        if det[d, group].max() < det_iou:
            continue
        keep = max(group, key=lambda t: (trk_labels[t] == balls.labels[d], det[d, t]))
        dups |= {trk_ids[t] for t in group if t != keep}
    if not dups:
        return trk_ids, trk_boxes, trk_labels, dups
    ok = [i for i, o in enumerate(trk_ids) if o not in dups]
    return tuple(trk_ids[i] for i in ok), trk_boxes[ok], tuple(trk_labels[i] for i in ok), dups


def _beside(boxes: NDArray[np.float64], pockets: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Which boxes, grown by their own size on every side, touch one of ``pockets``."""
    if len(boxes) == 0 or len(pockets) == 0:
        return np.zeros(len(boxes), dtype=bool)
    grow = box_sizes(boxes)[:, None] * np.array([-1.0, -1.0, 1.0, 1.0])
    return np.asarray(box_iou(boxes + grow, pockets).max(axis=1) > 0, dtype=bool)


def _sureness(dets: Detections, d: int) -> float:
    """How sure detection ``d`` is of its name: its own vote for that name (``evidence_of``)."""
    probs = None if dets.identity is None else dets.identity[d]
    return evidence_of(dets.labels[d], float(dets.scores[d]), probs, dets.identity_names).get(dets.labels[d], 0.0)


def _size(box: NDArray[np.float64]) -> float:
    return float(box_sizes(box))


def _shadows(
    spare: list[tuple[int, str, NDArray[np.float64] | None]], matched_boxes: NDArray[np.float64]
) -> list[tuple[int, str, NDArray[np.float64] | None]]:
    """Free tracks whose mask sits within one ball of a detection another track took.

    A ball the detector missed has no detection near it; a mask SAM2 left behind when its
    fast ball escaped has one: the neighbour it now shadows.
    """
    return [c for c in spare if c[2] is not None and any(_distance(c[2], b) <= _size(b) for b in matched_boxes)]


def _distance(a: NDArray[np.float64] | None, b: NDArray[np.float64]) -> float:
    """Centre distance of two boxes; an object with no box (lost) ranks last."""
    if a is None:
        return float("inf")
    return float(np.linalg.norm((a[:2] + a[2:]) / 2 - (b[:2] + b[2:]) / 2))


def to_track_frame(out: TrackerOutput, frame: int, t_s: float) -> TrackFrame:
    """Tracks JSONL entry: visible objects with sub-pixel centroid, equivalent radius, box, score."""
    m = out.masks
    centres, boxes, areas, present = m.centroids_px(), m.boxes_px(), m.areas_px(), m.present()
    scores = 1.0 / (1.0 + np.exp(-m.object_score_logits.reshape(-1).astype(np.float64)))
    objs = []
    for i, obj_id in enumerate(m.obj_ids):
        if not present[i] or obj_id in out.unconfirmed:
            continue
        x1, y1, x2, y2 = (float(v) for v in boxes[i])
        r = float(math.sqrt(areas[i] / math.pi))
        cx, cy = float(centres[i, 0]), float(centres[i, 1])
        objs.append(TrackedObject(str(obj_id), m.labels[i], cx, cy, r, (x1, y1, x2, y2), float(scores[i])))
    return TrackFrame(frame, t_s, tuple(objs))


__all__ = ["Detector", "Tracker", "TrackerOutput", "box_iou", "to_track_frame"]
