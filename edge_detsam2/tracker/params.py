"""Tracker settings: Det-SAM2's knobs where they still mean something, plus association.

Mapping from Det-SAM2: ``detect_interval``, ``detect_confidence``, ``skip_classes`` and the
special (static) classes keep their meaning. ``frame_buffer_size`` and
``max_frame_num_to_track`` have no counterpart: frames are tracked one by one, once, never
re-propagated. ``max_inference_state_frames`` becomes the fixed memory of SAM2 itself
(``num_maskmem`` recent frames, 16 object pointers) plus ``max_cond_frames`` prompted frames.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class TrackerParams(BaseModel):
    """Detection schedule, association and object lifetime."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    detect_interval: int = Field(
        2, ge=-1, description="Run the detector every N frames; -1: never (preload bank only)."
    )
    detect_confidence: float = Field(0.4, ge=0.0, le=1.0, description="Detections below this score are ignored.")
    confirm_confidence: float | None = Field(
        0.2,
        ge=0.0,
        le=1.0,
        description="A weaker detection (down to this score) within one ball of a detected pocket still confirms "
        "the free object whose mask it overlaps by match_iou (a ball on a pocket's rim scores low; ByteTrack's "
        "second pass): it keeps the object in the outputs, never prompts, names or starts one; null: off.",
    )
    new_object_confidence: float = Field(
        0.4, ge=0.0, le=1.0, description="An unmatched detection needs this score to start a new object."
    )
    skip_classes: tuple[str, ...] = Field((), description="Detector classes never tracked (e.g. cue, hand).")
    static_classes: tuple[str, ...] = Field(
        ("pocket",), description="Classes kept as detections, not tracked (pockets)."
    )
    match_iou: float = Field(0.2, ge=0.0, le=1.0, description="Min box IoU to match a detection to a tracked mask.")
    match_distance: float = Field(
        1.5, ge=0.0, description="Else: same class within this many box sizes (centre distance)."
    )
    duplicate_iou: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Two objects whose mask boxes overlap this much hold one ball: on a detected ball, the object not "
        "named like the detection is moved to a free detection of its own name, or dropped.",
    )
    reanchor_iou: float = Field(
        0.5, ge=0.0, le=1.0, description="A matched object whose mask box overlaps its detection less is re-prompted."
    )
    shadow_reach: float = Field(
        12.0,
        ge=0.0,
        description="A detection with no free track of its name goes to a free track whose mask sits on another "
        "detected ball (SAM2 lost a fast ball there) within this many box sizes, before it starts a new object; "
        "0: never.",
    )
    restart_reach: float | None = Field(
        3.0,
        ge=0.0,
        description="An object prompted farther than this many box sizes from its mask, or with no mask, forgets its "
        "memories and is tracked from the prompt alone: SAM2's memories of where a fast ball was would pull its "
        "mask back there on the next frame. null: never.",
    )
    jump_reach: float | None = Field(
        4.0,
        ge=0.0,
        description="While the detector runs, an object whose mask, on a frame it was not prompted, lies farther than "
        "this many box sizes per frame from where it was last seen has re-acquired another ball (its own went into a "
        "pocket or out of sight): it is dropped at once, and the next detection of its ball, if still there, starts "
        "a new object. null: never.",
    )
    absent_s: float = Field(
        1.0, gt=0.0, description="An object absent (score <= 0 or empty mask) this long is retired (s)."
    )
    confirm_s: float | None = Field(
        0.25,
        ge=0.0,
        description="While the detector runs, an object no detection has matched for this long is left out of the "
        "outputs (SAM2's memory alone is not trusted for it), and retired after absent_s; null: always trust SAM2.",
    )
    max_cond_frames: int = Field(2, ge=1, le=64, description="Prompted frames kept in memory per object.")
    prompt: Literal["box", "mask"] = Field(
        "mask",
        description="How a detection prompts SAM2: box (two corner points) or mask (the ellipse inscribed in the box, "
        "SAM2's mask_inputs; for balls nearly the true mask).",
    )
    reprompt_every_detection: bool = Field(
        False, description="Re-prompt every matched object on every detection frame, not only drifted ones."
    )
    match_classes: bool = Field(
        False,
        description="Match detections to tracks only within the same class. Off: match by position and let the "
        "identity vote name the track (a wrong class never breaks a track).",
    )
    identity_switch_margin: float = Field(
        1.5, ge=0.0, description="A track is renamed only when another identity leads its vote by this much."
    )
    swap_confidence: float | None = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="Two objects within a few balls of each other whose matched detections each name the other (at "
        "least this sure) swap names at once: SAM2 swapped their masks where the balls passed close. null: leave "
        "it to the vote.",
    )
    identity_decay: float = Field(
        0.85,
        gt=0.0,
        le=1.0,
        description="Each detection matched to a track first scales the track's earlier votes by this (1: never "
        "forget). Below 1 a track whose mask slipped onto another ball is renamed after a few detections of "
        "that ball; one wrong detection still never renames.",
    )
    unique_identities: bool = Field(
        True, description="Each identity names at most one live track (a ball set has one ball of each number)."
    )
    max_objects: int = Field(32, ge=1, le=256, description="Most objects tracked at once; more detections are ignored.")
