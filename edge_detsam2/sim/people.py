"""People at the table as the overhead camera sees them: arms reaching over the rails and the
bridge hand under the cue. They occlude balls exactly like the cue does (masks lose the
covered pixels; a mostly hidden ball gets no detector label).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from edge_detsam2.geometry.homography import Homography
from edge_detsam2.sim.look import Look

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]

ARM_HALF_WIDTH_M = 0.045
HAND_AXES_M = (0.055, 0.04)
BRIDGE_BEHIND_M = 0.2  # bridge hand distance behind the cue ball along the cue


@dataclass(frozen=True)
class Arm:
    """An arm reaching over a rail from ``t0_s`` to ``t1_s``: hand at ``hand_m``, towards ``dir``."""

    t0_s: float
    t1_s: float
    hand_m: tuple[float, float]
    direction: tuple[float, float]  # unit vector from the shoulder side towards the hand


def draw_arms(
    rng: np.random.Generator, look: Look, *, length_m: float, width_m: float, end_t_s: float, shots: int
) -> tuple[Arm, ...]:
    """Random arms over the clip: about ``look.hands_per_shot`` per shot, each for 0.5-3 s."""
    n = int(rng.poisson(look.hands_per_shot * shots))
    arms = []
    for _ in range(n):
        side = int(rng.integers(4))
        inward = rng.uniform(-0.12, 0.1)  # hand position relative to the cushion nose (+ = over the felt)
        if side in (0, 1):  # long rails: y = 0 (top) or y = W (bottom)
            x = rng.uniform(0.1, length_m - 0.1)
            y = -0.0 + inward if side == 0 else width_m - inward
            d = np.array([0.0, 1.0 if side == 0 else -1.0])
        else:
            y = rng.uniform(0.1, width_m - 0.1)
            x = inward if side == 2 else length_m - inward
            d = np.array([1.0 if side == 2 else -1.0, 0.0])
        ang = rng.uniform(-0.6, 0.6)
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        d = rot @ d
        t0 = rng.uniform(0, max(end_t_s - 0.5, 0.1))
        arms.append(Arm(float(t0), float(t0 + rng.uniform(0.5, 3.0)), (float(x), float(y)), (float(d[0]), float(d[1]))))
    return tuple(arms)


def _arm_polygon(hand_m: F64, direction: F64, reach_m: float) -> F64:
    """Quad of the forearm in table metres, from the hand back towards the shoulder."""
    normal = np.array([-direction[1], direction[0]])
    back = hand_m - direction * reach_m
    return np.array(
        [
            hand_m + normal * ARM_HALF_WIDTH_M * 0.8,
            back + normal * ARM_HALF_WIDTH_M * 1.3,
            back - normal * ARM_HALF_WIDTH_M * 1.3,
            hand_m - normal * ARM_HALF_WIDTH_M * 0.8,
        ]
    )


def render_arm(
    homography: Homography, shape: tuple[int, int], look: Look, hand_m: F64, direction: F64, reach_m: float = 0.7
) -> tuple[F32, F32]:
    """Coverage (H, W) and colour (H, W, 3) of one arm with its hand."""
    h, w = shape
    alpha = np.zeros((h, w), dtype=np.uint8)
    colour = np.zeros((h, w, 3), dtype=np.float32)
    sleeve = np.zeros((h, w), dtype=np.uint8)
    quad = homography.to_image(_arm_polygon(hand_m - direction * 0.09, direction, reach_m))
    cv2.fillConvexPoly(sleeve, np.round(quad * 16).astype(np.int32), 255, cv2.LINE_AA, shift=4)
    skin = np.zeros((h, w), dtype=np.uint8)
    wrist = homography.to_image(_arm_polygon(hand_m, direction, 0.12))
    cv2.fillConvexPoly(skin, np.round(wrist * 16).astype(np.int32), 255, cv2.LINE_AA, shift=4)
    ang = np.linspace(0, 2 * np.pi, 24, endpoint=False)
    normal = np.array([-direction[1], direction[0]])
    ring = hand_m + np.outer(np.cos(ang), direction) * HAND_AXES_M[0] + np.outer(np.sin(ang), normal) * HAND_AXES_M[1]
    cv2.fillPoly(skin, [np.round(homography.to_image(ring) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    colour[sleeve > 0] = look.sleeve_rgb
    colour[skin > 0] = look.skin_rgb
    alpha = np.maximum(sleeve, skin)
    return alpha.astype(np.float32) / 255.0, colour


def bridge_hand(
    homography: Homography, shape: tuple[int, int], look: Look, ball_xy_m: F64, cue_direction: F64, side: float
) -> tuple[F32, F32]:
    """The bridge hand behind the cue ball, its forearm turned ``side`` (±1) off the cue line."""
    hand = ball_xy_m - cue_direction * BRIDGE_BEHIND_M
    ang = side * 0.9
    rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    return render_arm(homography, shape, look, hand, rot @ cue_direction, reach_m=0.5)
