from __future__ import annotations

import numpy as np

from edge_detsam2.tracker.association import associate, box_iou


def test_iou() -> None:
    a = np.array([[0, 0, 10, 10]], dtype=float)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30]], dtype=float)
    assert np.allclose(box_iou(a, b), [[50 / 150, 0.0]])


def test_class_aware_one_to_one_with_several_instances() -> None:
    """Two reds and a yellow: each detection goes to its own track of the same class."""
    dets = np.array([[0, 0, 10, 10], [100, 0, 110, 10], [50, 50, 60, 60]], dtype=float)
    trks = np.array([[101, 1, 111, 11], [1, 1, 11, 11], [51, 50, 61, 60]], dtype=float)
    m = associate(dets, ("red", "red", "yellow"), trks, ("red", "red", "yellow"), min_iou=0.2, max_distance=1.5)
    assert sorted((d, t) for d, t, _ in m) == [(0, 1), (1, 0), (2, 2)]


def test_no_match_across_classes() -> None:
    dets = np.array([[0, 0, 10, 10]], dtype=float)
    trks = np.array([[0, 0, 10, 10]], dtype=float)
    assert associate(dets, ("red",), trks, ("blue",), min_iou=0.2, max_distance=1.5) == []


def test_fast_ball_matches_by_distance_when_boxes_do_not_overlap() -> None:
    dets = np.array([[20, 0, 30, 10]], dtype=float)  # moved 1.2 box sizes since the last frame
    trks = np.array([[8, 0, 18, 10]], dtype=float)
    m = associate(dets, ("ball_9",), trks, ("ball_9",), min_iou=0.2, max_distance=1.5)
    assert [(d, t) for d, t, _ in m] == [(0, 0)]
    far = np.array([[60, 0, 70, 10]], dtype=float)
    assert associate(far, ("ball_9",), trks, ("ball_9",), min_iou=0.2, max_distance=1.5) == []


def test_a_detection_over_two_masks_goes_to_the_one_of_its_name() -> None:
    """A ball and the mask SAM2 left beside it when its own (fast) ball escaped: the name decides."""
    det = np.array([[10, 10, 20, 20]], dtype=float)
    trks = np.array([[14, 10, 24, 20], [10, 11, 20, 21]], dtype=float)  # left-behind mask, the ball's own
    iou = box_iou(det, trks)[0]
    assert iou[0] < iou[1] < 1.0
    ball = ("ball",)
    named = associate(
        det, ball, trks, ball * 2, min_iou=0.2, max_distance=1.5, names=(("ball_3",), ("ball_3", "ball_9"))
    )
    assert [(d, t) for d, t, _ in named] == [(0, 0)]  # ball_3's mask, though ball_9's overlaps more
    assert [(d, t) for d, t, _ in associate(det, ball, trks, ball * 2, min_iou=0.2, max_distance=1.5)] == [(0, 1)]


def test_one_misread_name_does_not_pull_a_mask_off_the_ball_it_covers() -> None:
    det = np.array([[10, 10, 20, 20]], dtype=float)
    trks = np.array([[10, 10, 20, 20], [17, 10, 27, 20]], dtype=float)  # IoU 1.0 and 0.18 with the detection
    ball = ("ball",)
    m = associate(det, ball, trks, ball * 2, min_iou=0.1, max_distance=1.5, names=(("ball_9",), ("ball_3", "ball_9")))
    assert [(d, t) for d, t, _ in m] == [(0, 0)]
