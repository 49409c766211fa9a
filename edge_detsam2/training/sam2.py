"""``edge-detsam2 train sam2``: train or fine-tune a SAM2 video model on simulated clips.

Each step samples a short window of a clip (a few frames, a random frame stride) and a few
visible balls; frame 0 is prompted with each ball's (jittered) ground-truth box, the other
frames are tracked from SAM2's memory, exactly as at inference (``track_step`` of the
official ``SAM2Base``), and gradients flow through the memory. Losses follow SAM2's
recipe: focal (x20) + dice on the best of the predicted masks, MSE of the predicted IoU,
and a binary loss on the object score (a ball that left the table must read "absent").

With ``--init`` a SAM2.1 checkpoint (loaded with weights_only=True) is fine-tuned; without
it the model starts from random weights (the small CPU-sized config).
"""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.errors import ConfigError

logger = logging.getLogger(__name__)

_MEAN = np.array((0.485, 0.456, 0.406), np.float32)
_STD = np.array((0.229, 0.224, 0.225), np.float32)


@dataclass
class ClipData:
    """A clip held in memory at the model's input size: frames and per-frame instance masks."""

    name: str
    frames: NDArray[np.uint8]  # (N, S, S, 3) resized RGB
    masks: list[dict[str, NDArray[np.bool_]]]  # per frame: object label -> (S, S) mask
    boxes: list[dict[str, NDArray[np.float64]]]  # per frame: label -> xyxy in model pixels
    full_area: dict[str, float]  # label -> largest mask area seen (model pixels)


def load_clip(directory: Path, name: str, size: int, max_frames: int | None = None) -> ClipData:
    import cv2

    from edge_detsam2.sim.masks import read_masks

    cap = cv2.VideoCapture(str(directory / f"{name}.mp4"))
    frames: list[NDArray[np.uint8]] = []
    while max_frames is None or len(frames) < max_frames:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(np.asarray(cv2.resize(img[..., ::-1], (size, size), interpolation=cv2.INTER_AREA), np.uint8))
    cap.release()
    if not frames:
        raise ConfigError(f"{directory / name}.mp4: no frames")
    masks: list[dict[str, NDArray[np.bool_]]] = []
    boxes: list[dict[str, NDArray[np.float64]]] = []
    full: dict[str, float] = {}
    for frame, (h, w), inst in read_masks(directory / f"{name}.masks.jsonl"):
        if frame >= len(frames):
            break
        fm: dict[str, NDArray[np.bool_]] = {}
        fb: dict[str, NDArray[np.float64]] = {}
        for m in inst:
            small = cv2.resize(m.full((h, w)).astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA) > 0
            if not small.any():
                continue
            ys, xs = np.nonzero(small)
            fm[m.label] = small
            fb[m.label] = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
            full[m.label] = max(full.get(m.label, 0.0), float(small.sum()))
        masks.append(fm)
        boxes.append(fb)
    n = min(len(frames), len(masks))
    return ClipData(name, np.stack(frames[:n]), masks[:n], boxes[:n], full)


def _normalise(frames: NDArray[np.uint8]) -> Any:
    import torch

    x = (frames.astype(np.float32) / 255.0 - _MEAN) / _STD
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def _focal_dice(logits: Any, target: Any) -> tuple[Any, Any]:
    """Per-mask focal and dice losses: logits (B, M, H, W), target (B, 1, H, W) -> (B, M) each."""
    import torch
    import torch.nn.functional as F

    t = target.expand_as(logits)
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    focal = (0.25 * t + 0.75 * (1 - t)) * ce * (1 - p_t) ** 2
    focal = focal.flatten(2).mean(-1)
    inter = (p * t).flatten(2).sum(-1)
    dice = 1 - (2 * inter + 1) / (p.flatten(2).sum(-1) + t.flatten(2).sum(-1) + 1)
    return focal, dice + torch.zeros_like(focal)


class Sam2Trainer:
    """One optimisation step per ``step()`` call on a random clip window."""

    def __init__(
        self,
        model: Any,
        clips: list[ClipData],
        *,
        frames_per_sample: int = 4,
        objects_per_sample: int = 3,
        max_stride: int = 3,
        lr: float = 3e-4,
        seed: int = 0,
    ) -> None:
        import torch

        self.model, self.clips = model, clips
        self.frames_per_sample, self.objects_per_sample, self.max_stride = (
            frames_per_sample,
            objects_per_sample,
            max_stride,
        )
        self.rng = random.Random(seed)
        torch.manual_seed(seed)
        self.opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
        self.size = int(model.image_size)

    def _sample(self) -> tuple[ClipData, list[int], list[str]]:
        for _ in range(100):
            clip = self.rng.choice(self.clips)
            stride = self.rng.randint(1, self.max_stride)
            span = (self.frames_per_sample - 1) * stride
            if len(clip.frames) <= span:
                continue
            t0 = self.rng.randrange(len(clip.frames) - span)
            idx = [t0 + i * stride for i in range(self.frames_per_sample)]
            first = clip.masks[idx[0]]
            # prompt balls that are clearly visible on the prompted frame
            visible = [lb for lb, m in first.items() if m.sum() >= 0.5 * clip.full_area[lb] and lb != "pocket"]
            if visible:
                labels = self.rng.sample(visible, min(self.objects_per_sample, len(visible)))
                return clip, idx, labels
        raise ConfigError("no clip window with a visible ball; check the clips")

    def step(self) -> dict[str, float]:
        import torch

        model = self.model
        model.train()
        clip, idx, labels = self._sample()
        k = len(labels)
        images = _normalise(clip.frames[idx]).to(next(model.parameters()).device)
        backbone = model.forward_image(images)
        output_dict: dict[str, dict[int, Any]] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        total = torch.zeros(())
        logs = {"mask": 0.0, "iou": 0.0, "score": 0.0}
        for t, frame in enumerate(idx):
            per_frame = {
                "backbone_fpn": [f[t : t + 1].expand(k, -1, -1, -1) for f in backbone["backbone_fpn"]],
                "vision_pos_enc": [p[t : t + 1].expand(k, -1, -1, -1) for p in backbone["vision_pos_enc"]],
            }
            _, feats, pos, sizes = model._prepare_backbone_features(per_frame)
            point_inputs = None
            if t == 0:
                boxes = []
                for lb in labels:
                    b = clip.boxes[frame][lb].copy()
                    wh = np.maximum(b[2:] - b[:2], 2.0)
                    b += np.concatenate([wh, wh]) * np.array([self.rng.uniform(-0.1, 0.1) for _ in range(4)])
                    boxes.append(b)
                pts = torch.tensor(np.stack(boxes), dtype=torch.float32).reshape(k, 2, 2)
                point_inputs = {"point_coords": pts, "point_labels": torch.tensor([[2, 3]] * k, dtype=torch.int32)}
            out, sam_outputs, _, _ = model._track_step(
                t, t == 0, feats, pos, sizes, point_inputs, None, output_dict, len(idx), False, None
            )
            _low_multi, high_multi, ious, low, high, obj_ptr, score_logits = sam_outputs
            out.update(pred_masks=low, pred_masks_high_res=high, obj_ptr=obj_ptr, object_score_logits=score_logits)
            model._encode_memory_in_output(feats, sizes, point_inputs, True, high, score_logits, out)
            output_dict["cond_frame_outputs" if t == 0 else "non_cond_frame_outputs"][t] = out
            target = torch.stack(
                [torch.from_numpy(clip.masks[frame].get(lb, np.zeros((self.size, self.size), bool))) for lb in labels]
            )[:, None].float()
            present = (target.flatten(1).sum(1) > 0).float()
            focal, dice = _focal_dice(high_multi, target)
            per_mask = 20 * focal + dice
            best = per_mask.argmin(dim=1)
            mask_loss = (per_mask.gather(1, best[:, None])[:, 0] * present).sum() / present.sum().clamp(min=1)
            with torch.no_grad():
                pred = high_multi > 0
                inter = (pred & (target > 0.5)).flatten(2).sum(-1).float()
                union = (pred | (target > 0.5)).flatten(2).sum(-1).float()
                actual_iou = inter / union.clamp(min=1)
            iou_loss = (((ious - actual_iou) ** 2).mean(1) * present).sum() / present.sum().clamp(min=1)
            score_loss = torch.nn.functional.binary_cross_entropy_with_logits(score_logits[:, 0], present)
            total = total + mask_loss + iou_loss + score_loss
            logs["mask"] += float(mask_loss.detach()) / len(idx)
            logs["iou"] += float(iou_loss.detach()) / len(idx)
            logs["score"] += float(score_loss.detach()) / len(idx)
        self.opt.zero_grad(set_to_none=True)
        (total / len(idx)).backward()  # type: ignore[no-untyped-call]
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
        self.opt.step()
        logs["total"] = float(total.detach()) / len(idx)
        return logs


def evaluate(model: Any, clip: ClipData, *, frames: int = 60, objects: int = 6) -> dict[str, Any]:
    """Prompt up to ``objects`` balls once on frame 0, track ``frames`` frames; IoU per frame."""
    import cv2

    from edge_detsam2.tracker.session import StreamingSession

    model.eval()
    first = clip.masks[0]
    labels = sorted(lb for lb in first if lb != "pocket" and first[lb].sum() >= 0.5 * clip.full_area[lb])[:objects]
    session = StreamingSession(model)
    for i, lb in enumerate(labels):
        session.add_box(i, clip.boxes[0][lb], lb)
    per_frame = []
    for t in range(min(frames, len(clip.frames))):
        out = session.step(clip.frames[t])
        logits = out.mask_logits.float().numpy()[:, 0]
        scores = out.object_score_logits.float().numpy().reshape(-1)
        vals = []
        for i, lb in enumerate(labels):
            gt = clip.masks[t].get(lb)
            pred = cv2.resize(logits[i], (model.image_size, model.image_size), interpolation=cv2.INTER_LINEAR) > 0
            pred &= scores[i] > 0
            if gt is None or not gt.any():
                vals.append(1.0 if not pred.any() else 0.0)
                continue
            vals.append(float((pred & gt).sum() / max((pred | gt).sum(), 1)))
        per_frame.append(float(np.mean(vals)) if vals else float("nan"))
    return {"clip": clip.name, "objects": labels, "iou_per_frame": per_frame, "mean_iou": float(np.nanmean(per_frame))}


def train_sam2(
    clips_dir: Path,
    out: Path,
    *,
    config: str,
    overrides: tuple[str, ...],
    init: Path | None,
    iterations: int,
    frames_per_sample: int = 4,
    objects_per_sample: int = 3,
    lr: float = 3e-4,
    seed: int = 0,
    device: str = "cpu",
    eval_clips: Path | None = None,
    log_every: int = 25,
    time_budget_s: float | None = None,
) -> dict[str, Any]:
    import torch

    from edge_detsam2.tracker.model import ModelSpec, build_model, save_checkpoint

    manifest = clips_dir / "manifest.json"
    if not manifest.is_file():
        raise ConfigError(f"--clips {clips_dir}: no manifest.json; make clips with: edge-detsam2 simulate {clips_dir}")
    names = [c["clip"] for c in json.loads(manifest.read_text())["clips"]]
    torch.manual_seed(seed)
    model = build_model(ModelSpec(config, init, overrides, device))
    size = int(model.image_size)
    clips = [load_clip(clips_dir, n, size) for n in names]
    trainer = Sam2Trainer(
        model, clips, frames_per_sample=frames_per_sample, objects_per_sample=objects_per_sample, lr=lr, seed=seed
    )
    t0 = time.monotonic()
    history = []
    window: list[dict[str, float]] = []
    done = 0
    for it in range(1, iterations + 1):
        window.append(trainer.step())
        done = it
        if it % log_every == 0 or it == iterations:
            avg = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
            history.append({"iteration": it, "seconds": round(time.monotonic() - t0, 1), **avg})
            print(
                f"train sam2: {it}/{iterations} loss {avg['total']:.3f} (mask {avg['mask']:.3f} iou {avg['iou']:.3f} "
                f"score {avg['score']:.3f}) {time.monotonic() - t0:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            window = []
            save_checkpoint(model, out)  # a usable checkpoint at every log point
        if time_budget_s is not None and time.monotonic() - t0 > time_budget_s:
            print(f"train sam2: time budget reached after {it} iterations", file=sys.stderr)
            break
    save_checkpoint(model, out)
    recipe: dict[str, Any] = {
        "command": " ".join(["edge-detsam2", *sys.argv[1:]]),
        "clips": str(clips_dir),
        "config": config,
        "overrides": list(overrides),
        "init": str(init) if init else None,
        "iterations": done,
        "frames_per_sample": frames_per_sample,
        "objects_per_sample": objects_per_sample,
        "lr": lr,
        "seed": seed,
        "train_seconds": round(time.monotonic() - t0, 1),
        "history": history,
    }
    if eval_clips is not None:
        names = [c["clip"] for c in json.loads((eval_clips / "manifest.json").read_text())["clips"]]
        results = [evaluate(model, load_clip(eval_clips, n, size, max_frames=60)) for n in names]
        recipe["eval"] = {
            "clips": str(eval_clips),
            "mean_iou": float(np.mean([r["mean_iou"] for r in results])),
            "per_clip": results,
        }
    out.with_suffix(".json").write_text(json.dumps(recipe, indent=1) + "\n")
    return recipe
