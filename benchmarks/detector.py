"""Detector benchmark on held-out simulated clips: find every ball, name every ball.

For each frame of each clip (never used for training or tuning), runs the configured
detector (and identity classifier) exactly as the daemon does, matches its boxes one-to-one
to the visible ground-truth balls at IoU >= 0.5, and prints:
- class-agnostic recall for balls at rest and in motion, and by speed (at rest, 0.05–1,
  1–3, 3–6 and over 6 m/s: a break-speed streak), and precision;
- identity accuracy per detection, and per track after voting: each ground-truth ball is a
  track fed its matched detections, voted by the tracker's ``IdentityVotes`` with the
  configured switch margin and unique assignment, decided after every frame as the tracker
  does; a track counts as right when its label at the end of the clip is its ball;
- pockets: the share of frames where all six are found, of pocket-frames found, and of
  clips where every pocket is found (in at least half of the frames; a pocket can be hidden
  under a player's arm for a while);
- detector ms/frame on this machine (identity included), per resolution.

    edge-detsam2 simulate /tmp/det720 --clips 3 --shots 1 --seed 9100 --width 1280 --height 720
    edge-detsam2 simulate /tmp/det360 --clips 3 --shots 1 --seed 9200 --width 640 --height 360
    python benchmarks/detector.py /tmp/det720 /tmp/det360 --out benchmarks/results/detector.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from edge_detsam2.config import AppConfig, load_config
from edge_detsam2.detector.identity import IdentifiedDetector, IdentityClassifier
from edge_detsam2.detector.yolo import YoloDetector
from edge_detsam2.geometry.calibration import load_calibration
from edge_detsam2.geometry.homography import Homography
from edge_detsam2.sim.masks import read_clip
from edge_detsam2.sim.yolo_dataset import MIN_VISIBLE_FRACTION
from edge_detsam2.tracker.association import box_iou
from edge_detsam2.tracker.identity import IdentityVotes, evidence_of
from edge_detsam2.tracks import read_tracks

REST_MPS = 0.05  # a ball slower than this is at rest


def build_detector(cfg: AppConfig) -> Any:
    det = cfg.perception.detector
    assert det.weights is not None
    yolo = YoloDetector(det.weights, confidence=cfg.perception.tracker.detect_confidence, iou=det.iou, imgsz=det.imgsz)
    if det.identity is None:
        return yolo
    return IdentifiedDetector(
        yolo, IdentityClassifier(det.identity), ball_class=det.ball_class, reject_min=det.identity_reject
    )


def _match(pred: np.ndarray, truth: np.ndarray) -> list[tuple[int, int]]:
    iou = box_iou(pred, truth)
    pairs = []
    used_p: set[int] = set()
    used_t: set[int] = set()
    for flat in np.argsort(-iou, axis=None):
        p, t = np.unravel_index(flat, iou.shape)
        if iou[p, t] < 0.5:
            break
        if p not in used_p and t not in used_t:
            pairs.append((int(p), int(t)))
            used_p.add(int(p))
            used_t.add(int(t))
    return pairs


def bench_clip(detector: Any, clip: Path, name: str, counts: dict[str, float], votes: IdentityVotes) -> dict[str, Any]:
    cal = load_calibration(clip / f"{name}.table.yaml")
    h = Homography.from_corners(np.asarray(cal.corners_px), cal.length_m, cal.width_m)
    tracks = list(read_tracks(clip / f"{name}.tracks.jsonl"))
    pockets = np.array([[u - r, v - r, u + r, v + r] for u, v, r in _pocket_boxes(cal, h)])
    truth: dict[int, str] = {}  # track (ground-truth ball) -> its label
    track_of: dict[str, int] = {}
    ms = []
    pocket_hits = np.zeros(len(pockets))
    n, size = 0, [0, 0]
    for (i, rgb, masks), tf in zip(read_clip(clip, name), tracks, strict=False):
        size = [rgb.shape[1], rgb.shape[0]]
        t0 = time.perf_counter()
        dets = detector.detect(rgb)
        ms.append((time.perf_counter() - t0) * 1e3)
        by_id = {o.id: o for o in tf.objects}
        speed = _speeds(tracks, i, h)
        gt_boxes, gt_ids, care = [], [], []
        for m in masks:
            o = by_id.get(m.id)
            disc = np.pi * (o.r or 1.0) ** 2 if o else 1.0
            bh, bw = m.box.shape
            gt_boxes.append((m.x, m.y, m.x + bw, m.y + bh))
            gt_ids.append((m.id, m.label))
            care.append(m.area >= MIN_VISIBLE_FRACTION * disc)
        is_ball = np.array([lb != "pocket" for lb in dets.labels], dtype=bool)
        pb = dets.boxes[is_ball]
        p_idx = np.flatnonzero(is_ball)
        gt = np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4)
        pairs = _match(pb, gt)
        matched_t = {t for _, t in pairs}
        for t, (oid, _label) in enumerate(gt_ids):
            if not care[t]:
                continue
            v = speed.get(oid, 0.0)
            for key in ("motion" if v >= REST_MPS else "rest", _speed_bin(v)):
                counts[f"{key}_total"] += 1
                counts[f"{key}_found"] += t in matched_t
        counts["pred_balls"] += len(pb) - sum(1 for _, t in pairs if not care[t])
        counts["pred_correct"] += sum(1 for p, t in pairs if care[t])
        for p, t in pairs:
            if not care[t]:
                continue
            d = p_idx[p]
            label = gt_ids[t][1]
            counts["id_total"] += 1
            counts["id_correct"] += dets.labels[d] == label
            probs = None if dets.identity is None else dets.identity[d]
            track = track_of.setdefault(gt_ids[t][0], len(track_of))
            votes.observe(track, evidence_of(dets.labels[d], float(dets.scores[d]), probs, dets.identity_names))
            truth[track] = label
        votes.decide()
        pk = dets.boxes[~is_ball]
        counts["frames"] += 1
        found = _match(pk, pockets)
        counts["all_pockets"] += len(found) == len(pockets)
        counts["pocket_frames"] += len(pockets)
        counts["pocket_frames_found"] += len(found)
        pocket_hits[[t for _, t in found]] += 1
        n += 1
    counts["clips"] += 1
    counts["clips_all_pockets"] += bool(n) and bool((pocket_hits >= 0.5 * n).all())
    per_track = [votes.labels.get(track) == label for track, label in truth.items()]
    counts["tracks"] += len(per_track)
    counts["tracks_correct"] += sum(per_track)
    return {"ms": ms, "size": size}


#: Upper edges (m/s) of the speed bins of ``recall_by_speed``; a 3-m/s ball moves 10 cm a frame at 30 fps.
SPEED_BINS = (("<0.05", REST_MPS), ("0.05-1", 1.0), ("1-3", 3.0), ("3-6", 6.0), (">6", np.inf))


def _speed_bin(v: float) -> str:
    return next(name for name, hi in SPEED_BINS if v < hi)


def _pocket_boxes(cal: Any, h: Homography) -> list[tuple[float, float, float]]:
    out = []
    for p in cal.resolved_pockets():
        r = p.radius_m * float(h.pixels_per_metre(h.to_table(np.asarray(p.px)))[0])
        out.append((p.px[0], p.px[1], r))
    return out


def _speeds(tracks: list[Any], i: int, h: Homography) -> dict[str, float]:
    """Ball speeds (m/s) at frame i from the exact tracks (central difference)."""
    a, b = tracks[max(i - 1, 0)], tracks[min(i + 1, len(tracks) - 1)]
    dt = max(b.t_s - a.t_s, 1e-9)
    pa = {o.id: h.to_table(np.array([o.cx, o.cy])) for o in a.objects}
    out = {}
    for o in b.objects:
        if o.id in pa:
            out[o.id] = float(np.linalg.norm(h.to_table(np.array([o.cx, o.cy])) - pa[o.id]) / dt)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("clips", type=Path, nargs="+", help="directories written by 'edge-detsam2 simulate'")
    p.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    cfg = load_config(args.config)
    detector = build_detector(cfg)
    counts: dict[str, float] = defaultdict(float)
    timing: dict[str, list[float]] = defaultdict(list)
    for d in args.clips:
        for c in json.loads((d / "manifest.json").read_text())["clips"]:
            tp = cfg.perception.tracker
            votes = IdentityVotes(
                switch_margin=tp.identity_switch_margin, unique=tp.unique_identities, decay=tp.identity_decay
            )
            res = bench_clip(detector, d, c["clip"], counts, votes)
            timing[f"{res['size'][0]}x{res['size'][1]}"] += res["ms"][3:]  # skip warm-up
            print(f"{d.name}/{c['clip']}: {counts['frames']:.0f} frames so far", flush=True)
    c = counts
    result = {
        "clips": [str(d) for d in args.clips],
        "config": str(args.config),
        "frames": int(c["frames"]),
        "recall_rest": c["rest_found"] / max(c["rest_total"], 1),
        "recall_motion": c["motion_found"] / max(c["motion_total"], 1),
        "balls_rest": int(c["rest_total"]),
        "balls_motion": int(c["motion_total"]),
        "recall_by_speed": {
            f"{k} m/s": {"recall": round(c[f"{k}_found"] / max(c[f"{k}_total"], 1), 4), "balls": int(c[f"{k}_total"])}
            for k, _ in SPEED_BINS
        },
        "precision": c["pred_correct"] / max(c["pred_balls"], 1),
        "identity_per_detection": c["id_correct"] / max(c["id_total"], 1),
        "identity_per_track": c["tracks_correct"] / max(c["tracks"], 1),
        "tracks": int(c["tracks"]),
        "frames_all_six_pockets": c["all_pockets"] / max(c["frames"], 1),
        "pocket_recall_per_frame": c["pocket_frames_found"] / max(c["pocket_frames"], 1),
        "clips_every_pocket_found": f"{c['clips_all_pockets']:.0f}/{c['clips']:.0f}",
        "ms_per_frame": {k: round(float(np.mean(v)), 1) for k, v in timing.items()},
    }
    print(json.dumps(result, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
