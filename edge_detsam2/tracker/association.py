"""Match detections to tracked masks: class-aware, one-to-one (IoU first, then centre distance)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Among overlapping candidates the detection's own name counts as this much extra IoU (and
#: as this fraction of ``max_distance`` in pass 2): enough for a true ball over a left-behind
#: mask, not enough for one misread detection to pull a mask off a ball it covers well.
NAME_BONUS = 0.5


def box_sizes(boxes: NDArray[np.float64]) -> NDArray[np.float64]:
    """The longer side of each (N, 4) xyxy box: a ball's size, the unit of match distances."""
    return np.asarray(np.maximum(boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]), dtype=np.float64)


def box_iou(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Pairwise IoU of (N, 4) and (M, 4) xyxy boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9), dtype=np.float64)


def associate(
    det_boxes: NDArray[np.float64],
    det_labels: tuple[str, ...],
    trk_boxes: NDArray[np.float64],
    trk_labels: tuple[str, ...],
    *,
    min_iou: float,
    max_distance: float,
    names: tuple[tuple[str, ...], tuple[str, ...]] | None = None,
) -> list[tuple[int, int, float]]:
    """Greedy one-to-one matches (detection index, track index, IoU) of the same class.

    Pass 1 matches by IoU >= ``min_iou``; pass 2 matches the leftovers of a class by centre
    distance within ``max_distance`` box sizes (fast balls move more than their size per
    frame, so their boxes need not overlap). ``names`` (detection names, track names), when
    given, weigh in among the candidates of each pass (``NAME_BONUS``): a detection over two masks — a ball
    and a mask SAM2 left beside it when its own ball escaped — goes to the one of its name.
    """
    same = np.array([[d == t for t in trk_labels] for d in det_labels], dtype=bool).reshape(
        len(det_labels), len(trk_labels)
    )
    named = np.zeros(same.shape)
    if names is not None:
        named = np.array([[d == t for t in names[1]] for d in names[0]], dtype=float).reshape(same.shape)
    iou = np.where(same, box_iou(det_boxes, trk_boxes), -1.0)
    rank = np.where(iou >= min_iou, iou + NAME_BONUS * named, -1.0)
    matches: list[tuple[int, int, float]] = []
    used_d: set[int] = set()
    used_t: set[int] = set()
    for flat in np.argsort(-rank, axis=None, kind="stable"):
        d, t = np.unravel_index(flat, iou.shape)
        if rank[d, t] < min_iou:
            break
        if d not in used_d and t not in used_t:
            matches.append((int(d), int(t), float(iou[d, t])))
            used_d.add(int(d))
            used_t.add(int(t))
    if len(det_boxes) and len(trk_boxes):
        dc = (det_boxes[:, :2] + det_boxes[:, 2:]) / 2
        tc = (trk_boxes[:, :2] + trk_boxes[:, 2:]) / 2
        size = box_sizes(det_boxes)
        dist = np.linalg.norm(dc[:, None] - tc[None], axis=2) / np.maximum(size[:, None], 1e-9)
        dist = np.where(same & (dist <= max_distance), dist - NAME_BONUS * max_distance * named, np.inf)
        for flat in np.argsort(dist, axis=None, kind="stable"):
            d, t = np.unravel_index(flat, dist.shape)
            if not np.isfinite(dist[d, t]):
                break
            if d not in used_d and t not in used_t:
                matches.append((int(d), int(t), float(iou[d, t]) if iou[d, t] > 0 else 0.0))
                used_d.add(int(d))
                used_t.add(int(t))
    return matches
