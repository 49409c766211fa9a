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
