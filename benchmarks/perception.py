"""SAM2 tracking benchmark on held-out simulated clips: prompt once, then track on memory alone.

For each clip (never used for training or tuning) and each start frame, the configured SAM2
model is run through the real ``StreamingSession`` (exactly the daemon's code path): up to
``--objects`` balls clearly visible on the start frame are prompted as the tracker prompts
them (``tracker.prompt``: the ellipse inscribed in the ball's box, or the box), from their
ground-truth boxes, and then tracked for ``--frames`` frames with no further prompt.
Masks are compared with the rendered ground truth at video resolution. Prints:
- mask IoU on the prompted frame, after 10 and 30 tracked frames, and the mean over the
  tracked frames; an absent ball scores 1 when the model says "absent", else 0;
- median centroid error (px, video resolution) over tracked frames where the ball is visible:
  the plain mean of the video-resolution mask's pixels, and the centroid the tracker
  publishes (tracks ``cx, cy``: ``tracker.session.mask_centroid``, the mask's largest
  connected part with a logit-weighted edge), both against the rendered mask's centroid;
- id switches: tracked frames where an object's mask overlaps another ball more than its own;
- lost tracks: objects whose mask is empty on the last frame while their ball is visible;
- SAM2 ms/frame on this machine and the copy-frame-0 baseline (the prompt mask repeated).

    python benchmarks/perception.py /tmp/det720 /tmp/det360 --out benchmarks/results/perception.json
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_detsam2.config import load_config
from edge_detsam2.sim.masks import read_masks
from edge_detsam2.tracker.model import ModelSpec, build_model
from edge_detsam2.tracker.session import StreamingSession


def _clip_frames(path: Path, start: int, count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames: list[np.ndarray] = []
    while len(frames) < count:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(img[..., ::-1]))
    cap.release()
    return frames


def run_window(
    model: Any, clip_dir: Path, name: str, start: int, frames: int, objects: int, as_mask: bool
) -> dict[str, Any]:
    masks = {f: (size, inst) for f, size, inst in read_masks(clip_dir / f"{name}.masks.jsonl")}
    images = _clip_frames(clip_dir / f"{name}.mp4", start, frames + 1)
    (h, w), inst0 = masks[start]
    truth0 = {m.label: m.full((h, w)) for m in inst0 if m.label != "pocket"}
    full: dict[str, int] = {}
    for f in range(start, start + len(images)):
        for m in masks[f][1]:
            if m.label != "pocket":
                full[m.label] = max(full.get(m.label, 0), int(m.full((h, w)).sum()))
    labels = sorted(lb for lb, m in truth0.items() if m.sum() >= 0.5 * full[lb] and m.sum() >= 20)[:objects]
    session = StreamingSession(model)
    for i, lb in enumerate(labels):
        ys, xs = np.nonzero(truth0[lb])
        session.add_box(i, [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], lb, as_mask=as_mask)
    iou = np.zeros((len(images), len(labels)))
    base = np.zeros_like(iou)
    cerr: list[float] = []
    cpub: list[float] = []  # the centroid the tracker publishes (tracks JSONL cx, cy)
    switches = 0
    first: dict[int, np.ndarray] = {}
    pred = {}
    t0 = time.perf_counter()
    for t, img in enumerate(images):
        out = session.step(img)
        logits = out.video_res_logits().float().numpy()[:, 0]
        present = out.present()
        published = out.centroids_px()
        truth = {m.label: m.full((h, w)) for m in masks[start + t][1] if m.label != "pocket"}
        for i, lb in enumerate(labels):
            pred[i] = (logits[i] > 0) & bool(present[i])
            if t == 0:
                first[i] = pred[i]
            gt = truth.get(lb)
            for p, store in ((pred[i], iou), (first[i], base)):
                if gt is None or not gt.any():
                    store[t, i] = float(not p.any())
                else:
                    store[t, i] = (p & gt).sum() / max((p | gt).sum(), 1)
            if gt is not None and gt.any() and pred[i].any() and t > 0:
                gy, gx = np.nonzero(gt)
                py, px = np.nonzero(pred[i])
                cerr.append(float(np.hypot(gx.mean() - px.mean(), gy.mean() - py.mean())))
                cpub.append(float(np.hypot(gx.mean() - published[i, 0], gy.mean() - published[i, 1])))
                own = (pred[i] & gt).sum()
                other = max(((pred[i] & m).sum() for k, m in truth.items() if k != lb), default=0)
                switches += int(other > own)
    ms = (time.perf_counter() - t0) * 1000 / max(len(images), 1)
    last = truth
    lost = sum(1 for i, lb in enumerate(labels) if lb in last and last[lb].any() and not pred[i].any())
    return {
        "clip": name,
        "size": [w, h],
        "start": start,
        "objects": labels,
        "iou_per_frame": iou.mean(1).round(4).tolist(),
        "copy_per_frame": base.mean(1).round(4).tolist(),
        "centroid_errors": cerr,
        "published_centroid_errors": cpub,
        "id_switch_frames": switches,
        "lost": lost,
        "ms_per_frame": ms,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clips", type=Path, nargs="+", help="held-out 'simulate' directories")
    ap.add_argument("--config", type=Path, default=Path("configs/default.yaml"))
    ap.add_argument("--frames", type=int, default=30, help="tracked frames after the prompt")
    ap.add_argument("--objects", type=int, default=6)
    ap.add_argument("--starts", type=int, default=1, help="start frames per clip (spread over the clip)")
    ap.add_argument("--max-clips", type=int, default=None, help="clips per directory")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    cfg = load_config(args.config)
    s = cfg.perception.sam2
    model = build_model(ModelSpec(s.config, s.checkpoint, tuple(s.overrides), cfg.perception.device))
    as_mask = cfg.perception.tracker.prompt == "mask"
    windows = []
    for d in args.clips:
        names = [c["clip"] for c in json.loads((d / "manifest.json").read_text())["clips"]][: args.max_clips]
        for name in names:
            n = len((d / f"{name}.masks.jsonl").read_text().splitlines())
            for k in range(args.starts):
                start = (n - args.frames - 1) * k // max(args.starts - 1, 1)
                r = run_window(model, d, name, start, args.frames, args.objects, as_mask)
                windows.append(r)
                per = r["iou_per_frame"]
                print(
                    f"perception: {d.name}/{name}@{start} {r['size'][0]}x{r['size'][1]} {len(r['objects'])} balls: "
                    f"IoU prompt {per[0]:.3f} +10 {per[min(10, len(per) - 1)]:.3f} "
                    f"+30 {r['iou_per_frame'][-1]:.3f} (copy {r['copy_per_frame'][-1]:.3f}), "
                    f"switch frames {r['id_switch_frames']}, lost {r['lost']}, {r['ms_per_frame']:.0f} ms/frame",
                    file=sys.stderr,
                    flush=True,
                )
    per = np.array([w["iou_per_frame"] for w in windows])
    hd = [e for w in windows if w["size"][0] == 1280 for e in w["centroid_errors"]]
    hp = [e for w in windows if w["size"][0] == 1280 for e in w["published_centroid_errors"]]
    summary = {
        "windows": len(windows),
        "iou_prompted": float(per[:, 0].mean()),
        "iou_after_10": float(per[:, min(10, per.shape[1] - 1)].mean()),
        "iou_after_30": float(per[:, -1].mean()),
        "iou_mean_tracked": float(per[:, 1:].mean()),
        "copy_frame0_mean_tracked": float(np.mean([w["copy_per_frame"][1:] for w in windows])),
        "median_centroid_error_px_1280x720": float(np.median(hd)) if hd else None,
        "median_published_centroid_error_px_1280x720": float(np.median(hp)) if hp else None,
        "clips_without_id_switch": sum(1 for w in windows if w["id_switch_frames"] == 0),
        "lost_tracks": sum(w["lost"] for w in windows),
        "ms_per_frame": {
            f"{w}x{h}": float(np.mean([x["ms_per_frame"] for x in windows if x["size"] == [w, h]]))
            for w, h in {tuple(x["size"]) for x in windows}
        },
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "model": str(s.checkpoint),
        "prompt": cfg.perception.tracker.prompt,
    }
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "windows": windows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
