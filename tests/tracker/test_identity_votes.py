"""A track's name is voted over its observations: one wrong detection never renames a ball."""

from __future__ import annotations

import numpy as np

from edge_detsam2.tracker.identity import IdentityVotes, evidence_of


def test_one_wrong_detection_never_renames_a_ball() -> None:
    v = IdentityVotes(switch_margin=1.5)
    v.observe(1, {"ball_3": 0.9, "ball_11": 0.1})
    v.decide()
    v.observe(1, {"ball_11": 1.0})  # one confident mistake
    assert v.decide() == {} and v.labels[1] == "ball_3" and v.changes == 0


def test_consistent_evidence_renames_a_wrongly_started_track_and_counts_it() -> None:
    v = IdentityVotes(switch_margin=1.5)
    v.observe(1, {"ball_9": 0.8, "ball_1": 0.2})  # first look was wrong
    v.decide()
    assert v.labels[1] == "ball_9"
    renamed = {}
    for _ in range(4):
        v.observe(1, {"ball_1": 0.9, "ball_9": 0.1})
        renamed.update(v.decide())
    assert renamed == {1: "ball_1"} and v.labels[1] == "ball_1" and v.changes == 1


def test_unique_identities_are_assigned_jointly() -> None:
    v = IdentityVotes(switch_margin=0.0, unique=True)
    v.observe(1, {"ball_2": 3.0, "ball_10": 2.5})
    v.observe(2, {"ball_2": 3.2, "ball_10": 0.5})
    v.decide()
    # both lean to ball_2; the joint assignment gives it to track 2, track 1 gets ball_10
    assert v.labels[2] == "ball_2"
    v.observe(1, {"ball_10": 1.0})
    v.decide()
    assert v.labels[1] == "ball_10"


def test_forget_drops_a_retired_track() -> None:
    v = IdentityVotes()
    v.observe(5, {"cue_ball": 1.0})
    v.forget(5)
    assert v.decide() == {} and 5 not in v.labels


def test_evidence_from_a_classifier_or_a_class_detector() -> None:
    names = ("cue_ball", "ball_1")
    assert evidence_of("ball", 0.9, np.array([0.7, 0.3]), names) == {"cue_ball": 0.7, "ball_1": 0.3}
    assert evidence_of("ball_1", 0.8, None, ()) == {"ball_1": 0.8}
    assert evidence_of("pocket", 0.8, np.zeros(2), names) == {"pocket": 0.8}


def test_a_new_track_does_not_take_a_name_a_live_track_holds() -> None:
    """A false detection (the cue's tip) named 'cue_ball' must not start a second cue ball."""
    v = IdentityVotes(switch_margin=1.5, unique=True)
    v.observe(1, {"cue_ball": 0.95})
    v.decide()
    v.observe(2, {"cue_ball": 0.6, "ball_9": 0.3})
    v.decide()
    assert v.labels == {1: "cue_ball", 2: "ball_9"}
    v.forget(1)  # the real cue ball's track is retired: the name is free again
    v.observe(3, {"cue_ball": 0.9})
    assert v.labels[3] == "cue_ball"
    unique_off = IdentityVotes(unique=False)
    unique_off.observe(1, {"cue_ball": 0.9})
    unique_off.observe(2, {"cue_ball": 0.9})
    assert unique_off.labels == {1: "cue_ball", 2: "cue_ball"}


def test_old_votes_fade_so_a_mask_that_slipped_onto_another_ball_is_renamed() -> None:
    """SAM2 loses the fast cue ball and its mask settles on ball 3: ball 3's detections rename it.

    Without fading, 15 detections of the cue ball would need 17 of ball 3 before a rename (and
    the track would publish a second cue ball meanwhile); with decay 0.85 it takes ~6, while
    up to 5 wrong detections in a row still do not rename a well-observed ball.
    """

    def detections_until_renamed(decay: float) -> int:
        v = IdentityVotes(switch_margin=1.5, decay=decay)
        for _ in range(15):
            v.observe(0, {"cue_ball": 0.98, "ball_3": 0.02})
            v.decide()
        for n in range(1, 100):
            v.observe(0, {"ball_3": 0.98, "cue_ball": 0.02})
            if v.decide():
                return n
        return 100

    assert detections_until_renamed(1.0) >= 16
    assert detections_until_renamed(0.85) <= 7

    v = IdentityVotes(switch_margin=1.5, decay=0.85)
    for _ in range(15):
        v.observe(0, {"ball_9": 0.95})
        v.decide()
    for _ in range(5):  # a run of confident mistakes (a hand over the ball, motion blur)
        v.observe(0, {"ball_1": 1.0})
        assert v.decide() == {}
    assert v.labels[0] == "ball_9"
