"""``edge-detsam2 train sam2``: a curriculum that teaches a SAM2 video model to segment and track balls.

Two stages, both on simulated clips with ground-truth instance masks (``simulate`` output,
or a pack of it made with ``train sam2-pack``):

1. **Image level.** Many prompts per image, each a ball: a dense prompt (the ellipse
   inscribed in the jittered ground-truth box, through SAM2's ``mask_inputs``) or a box
   prompt (single-mask output, as SAM2 answers a box). Encoder, prompt encoder and mask
   decoder learn to segment balls; memory attention is not used yet.
2. **Tracking.** Windows of ``T`` frames with a random stride (fast balls in the data): frame 0
   is conditioned with the ellipse exactly as at inference (``mask_inputs`` used as the
   output, the decoder only makes the object pointer), the other frames are tracked from
   SAM2's memory through the official ``_track_step`` / ``_encode_memory_in_output``, with
   gradients through the memory. The window grows from 2 to ``max_frames`` frames over the
   stage. Memory attention starts as an identity (its output projections zeroed, as ReZero and
   ControlNet start new branches), the image encoder learns at a tenth of the rate, and an
   image-level batch is mixed into every step so the stage-1 skill is kept.

Losses follow SAM2's recipe: focal (x20) + dice on the best of the predicted masks, MSE of
the predicted IoU, and a binary loss on the object score (the mask loss gets no gradient
where SAM2 overwrites the mask of an absent object). Batches hold many windows at once (each
ball is a row of the batch with its own frame), so a GPU is used well; on the CPU the same
code runs with small batches.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.errors import ConfigError
from edge_detsam2.tracker.preprocess import normalize, resize_square

logger = logging.getLogger(__name__)

#: The frame count given to ``track_step`` at inference (``tracker.session``); training uses the same.
UNBOUNDED_FRAMES = 2**31 - 1


@dataclass
class ClipData:
    """A clip at the model's input size: frames and a label map per frame."""

    name: str
    frames: NDArray[np.uint8]  # (N, S, S, 3) RGB, resized as in service
    labels: NDArray[np.uint8]  # (N, S, S): 0 background, i + 1 = names[i]
    names: list[str]

    @property
    def areas(self) -> NDArray[np.int64]:
        """(N, L) pixel area of each object on each frame."""
        n = len(self.names)
        return np.stack([np.bincount(f.reshape(-1), minlength=n + 1)[1:] for f in self.labels]).astype(np.int64)


def load_clip(directory: Path, name: str, size: int, max_frames: int | None = None) -> ClipData:
    """Read ``simulate`` output (``NAME.mp4`` + ``NAME.masks.jsonl``) at model size; pockets are left out."""
    import cv2

    from edge_detsam2.sim.masks import read_masks

    cap = cv2.VideoCapture(str(directory / f"{name}.mp4"))
    frames: list[NDArray[np.uint8]] = []
    while max_frames is None or len(frames) < max_frames:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(resize_square(np.ascontiguousarray(img[..., ::-1]), size))
    cap.release()
    if not frames:
        raise ConfigError(f"{directory / name}.mp4: no frames")
    names: list[str] = []
    labels: list[NDArray[np.uint8]] = []
    for frame, (h, w), inst in read_masks(directory / f"{name}.masks.jsonl"):
        if frame >= len(frames):
            break
        lab = np.zeros((size, size), np.uint8)
        for m in inst:
            if m.label == "pocket":
                continue
            if m.label not in names:
                names.append(m.label)
            small = cv2.resize(m.full((h, w)).astype(np.uint8), (size, size), interpolation=cv2.INTER_AREA) > 0
            lab[small] = names.index(m.label) + 1
        labels.append(lab)
    n = min(len(frames), len(labels))
    return ClipData(name, np.stack(frames[:n]), np.stack(labels[:n]), names)


# -- packs: clips at model size, small enough to carry ------------------------------------------


def write_pack(clip: ClipData, out_dir: Path) -> None:
    """``NAME.frames.mp4`` (H.264 4:4:4, crf 18, via imageio-ffmpeg) + ``NAME.labels.npz``."""
    import subprocess

    try:
        import imageio_ffmpeg
    except ImportError:
        raise ConfigError("train sam2-pack needs imageio-ffmpeg: pip install imageio-ffmpeg") from None
    out_dir.mkdir(parents=True, exist_ok=True)
    n, s = len(clip.frames), clip.frames.shape[1]
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    cmd += ["-s", f"{s}x{s}", "-r", "30", "-i", "-", "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv444p"]
    subprocess.run([*cmd, str(out_dir / f"{clip.name}.frames.mp4")], input=clip.frames.tobytes(), check=True)
    np.savez_compressed(out_dir / f"{clip.name}.labels.npz", labels=clip.labels, names=np.array(clip.names))
    if n != len(clip.labels):
        raise ConfigError(f"{clip.name}: {n} frames but {len(clip.labels)} label maps")


def read_pack(directory: Path, name: str) -> ClipData:
    import cv2

    with np.load(directory / f"{name}.labels.npz", allow_pickle=False) as z:
        labels, names = z["labels"], [str(x) for x in z["names"]]
    cap = cv2.VideoCapture(str(directory / f"{name}.frames.mp4"))
    frames: list[NDArray[np.uint8]] = []
    while len(frames) < len(labels):
        ok, img = cap.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(img[..., ::-1]))
    cap.release()
    if len(frames) != len(labels):
        raise ConfigError(f"{directory / name}.frames.mp4: {len(frames)} frames decoded, {len(labels)} label maps")
    return ClipData(name, np.stack(frames), labels, names)


def load_clips(directory: Path, size: int) -> list[ClipData]:
    """A ``simulate`` directory (manifest.json) or a pack directory (``*.labels.npz``)."""
    packs = sorted(directory.glob("*.labels.npz"))
    if packs:
        import os
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, os.cpu_count() or 1)) as pool:  # decoders release the GIL
            clips = list(pool.map(lambda p: read_pack(directory, p.name[: -len(".labels.npz")]), packs))
        if clips[0].frames.shape[1] != size:
            raise ConfigError(f"{directory}: pack is {clips[0].frames.shape[1]} px, the model {size} px")
        return clips
    manifest = directory / "manifest.json"
    if not manifest.is_file():
        raise ConfigError(f"--clips {directory}: no manifest.json; make clips with: edge-detsam2 simulate {directory}")
    names = [c["clip"] for c in json.loads(manifest.read_text())["clips"]]
    return [load_clip(directory, n, size) for n in names]


# -- losses ------------------------------------------------------------------------------------------


def focal_dice(logits: Any, target: Any) -> tuple[Any, Any]:
    """Per-mask focal and dice losses: logits (B, M, H, W), target (B, 1, H, W) -> (B, M) each."""
    import torch.nn.functional as F

    t = target.expand_as(logits)
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    focal = ((0.25 * t + 0.75 * (1 - t)) * ce * (1 - p_t) ** 2).flatten(2).mean(-1)
    inter = (p * t).flatten(2).sum(-1)
    dice = 1 - (2 * inter + 1) / (p.flatten(2).sum(-1) + t.flatten(2).sum(-1) + 1)
    return focal, dice


def mask_losses(masks: Any, ious: Any, scores: Any, target: Any) -> tuple[Any, dict[str, float]]:
    """SAM2's loss for one frame: masks (R, M, S, S) logits, ious (R, M), scores (R, 1), target (R, 1, S, S)."""
    import torch
    import torch.nn.functional as F

    masks, ious, scores = masks.float(), ious.float(), scores.float()
    present = (target.flatten(1).sum(1) > 0).float()
    focal, dice = focal_dice(masks, target)
    per_mask = 20 * focal + dice
    best = per_mask.argmin(dim=1, keepdim=True)
    denom = present.sum().clamp(min=1)
    mask_loss = (per_mask.gather(1, best)[:, 0] * present).sum() / denom
    with torch.no_grad():
        pred = masks > 0
        tgt = target > 0.5
        actual = (pred & tgt).flatten(2).sum(-1).float() / (pred | tgt).flatten(2).sum(-1).float().clamp(min=1)
    iou_loss = (((ious - actual) ** 2).mean(1) * present).sum() / denom
    score_loss = F.binary_cross_entropy_with_logits(scores[:, 0], present)
    best_iou = (actual.gather(1, best)[:, 0] * present).sum() / denom
    logs = {
        k: float(v.detach())
        for k, v in (("mask", mask_loss), ("iou", iou_loss), ("score", score_loss), ("IoU", best_iou))
    }
    return mask_loss + iou_loss + score_loss, logs


# -- geometry on the GPU -------------------------------------------------------------------------


def boxes_of(masks: Any) -> Any:
    """(R, S, S) bool -> (R, 4) float xyxy (x2/y2 exclusive); empty masks give a zero box."""
    import torch

    s = masks.shape[-1]
    ar = torch.arange(s, device=masks.device)
    cols, rows = masks.any(1), masks.any(2)
    big = torch.full_like(ar, s)
    x1 = torch.where(cols, ar, big).min(1).values
    x2 = torch.where(cols, ar + 1, torch.zeros_like(ar)).max(1).values
    y1 = torch.where(rows, ar, big).min(1).values
    y2 = torch.where(rows, ar + 1, torch.zeros_like(ar)).max(1).values
    box = torch.stack([x1, y1, x2, y2], 1).float()
    return torch.where(masks.flatten(1).any(1, keepdim=True), box, torch.zeros_like(box))


def jitter(boxes: Any, amount: float, gen: Any) -> Any:
    """Move each side by up to ``amount`` of the box size (a detector's error)."""
    import torch

    wh = (boxes[:, 2:] - boxes[:, :2]).clamp(min=2.0).repeat(1, 2)
    noise = (torch.rand(boxes.shape, device=boxes.device, generator=gen) * 2 - 1) * amount
    out = boxes + wh * noise
    x1y1 = torch.minimum(out[:, :2], out[:, 2:] - 1)
    return torch.cat([x1y1, out[:, 2:]], 1)


def ellipses(boxes: Any, size: int) -> Any:
    """(R, 4) xyxy -> (R, 1, S, S) float: the ellipse inscribed in each box (as the session draws it)."""
    import torch

    ar = torch.arange(size, device=boxes.device, dtype=torch.float32) + 0.5
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    ax = ((boxes[:, 2] - boxes[:, 0]) / 2).clamp(min=0.5)
    ay = ((boxes[:, 3] - boxes[:, 1]) / 2).clamp(min=0.5)
    dx = (ar[None, None, :] - cx[:, None, None]) / ax[:, None, None]
    dy = (ar[None, :, None] - cy[:, None, None]) / ay[:, None, None]
    return ((dx**2 + dy**2) <= 1.0).float()[:, None]


def track_frame(
    model: Any, t: int, feats: Any, pos: Any, sizes: Any, mask_inputs: Any, output_dict: dict[str, dict[int, Any]]
) -> tuple[Any, ...]:
    """One frame of SAM2 tracking as inference runs it (frame 0 conditioned by ``mask_inputs``).

    Stores the frame's output with its memory in ``output_dict`` and returns SAM2's seven head
    outputs (multi-masks, high-res multi-masks, IoUs, low-res, high-res, pointer, object score);
    ``track_step`` would drop the object score the loss needs.
    """
    out, sam, _, _ = model._track_step(
        t, t == 0, feats, pos, sizes, None, mask_inputs, output_dict, UNBOUNDED_FRAMES, False, None
    )
    _, _, _, low, high, obj_ptr, score = sam
    out.update(pred_masks=low, pred_masks_high_res=high, obj_ptr=obj_ptr, object_score_logits=score)
    model._encode_memory_in_output(feats, sizes, None, True, high, score, out)
    output_dict["cond_frame_outputs" if t == 0 else "non_cond_frame_outputs"][t] = out
    return tuple(sam)


# -- the trainer ---------------------------------------------------------------------------------


@dataclass
class Curriculum:
    """Sizes and rates of the two stages; times are seconds of training."""

    image_seconds: float = 120.0
    track_seconds: float = 300.0
    images_per_step: int = 16
    prompts_per_image: int = 8
    windows_per_step: int = 16
    objects_per_window: int = 6
    max_frames: int = 6
    max_stride: int = 4
    image_lr: float = 1e-3
    track_lr: float = 3e-4
    encoder_lr_scale: float = 0.1
    box_fraction: float = 0.5
    box_jitter: float = 0.1
    mix_images: int = 4
    seed: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def zero_init_memory_attention(model: Any) -> None:
    """Memory attention starts as an identity: the output projections of its branches are zero."""
    import torch

    with torch.no_grad():
        for layer in model.memory_attention.layers:
            for lin in (layer.self_attn.out_proj, layer.cross_attn_image.out_proj, layer.linear2):
                lin.weight.zero_()
                lin.bias.zero_()


class CurriculumTrainer:
    """Holds the clips on the training device and runs image-level and tracking steps."""

    def __init__(self, model: Any, clips: list[ClipData], plan: Curriculum, device: str = "cpu") -> None:
        import torch

        self.model, self.plan = model, plan
        self.device = torch.device(device)
        self.size = int(model.image_size)
        self.rng = np.random.default_rng(plan.seed)
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(plan.seed)
        self.frames = torch.from_numpy(np.concatenate([c.frames for c in clips])).to(self.device)
        # one label space for all clips: object o of clip c is global id offsets[c] + o
        ids, offsets, start = [], [], 0
        for c in clips:
            lab = c.labels.astype(np.int16)
            ids.append(np.where(lab > 0, lab + start, 0).astype(np.int16))
            offsets.append(start)
            start += len(c.names)
        self.labels = torch.from_numpy(np.concatenate(ids)).to(self.device)
        self.clip_start = np.cumsum([0] + [len(c.frames) for c in clips])[:-1]
        self.clip_len = np.array([len(c.frames) for c in clips])
        self.offsets = offsets
        areas = [c.areas for c in clips]
        self.areas = areas
        self.full = [a.max(0) for a in areas]
        self.amp = self.device.type == "cuda"

    # sampling ------------------------------------------------------------------------------------
    def _visible(self, c: int, f: int) -> NDArray[np.int64]:
        a, full = self.areas[c][f], self.full[c]
        return np.nonzero((a >= 0.5 * full) & (a >= 12))[0]

    def _images(self, idx: Any, flips: Any, gains: Any) -> Any:
        """Normalised (B, 3, S, S) float images with per-image flips and brightness/contrast."""
        x = self.frames[idx].permute(0, 3, 1, 2).float() / 255.0
        x = self._flip(x, flips)
        mu = x.mean((1, 2, 3), keepdim=True)
        x = ((x - mu) * gains[:, 1:2, None, None] + mu * gains[:, 0:1, None, None]).clamp(0, 1)
        return normalize(x)

    @staticmethod
    def _flip(x: Any, flips: Any) -> Any:
        import torch

        hf = flips[:, 0].view(-1, *([1] * (x.dim() - 1)))
        vf = flips[:, 1].view(-1, *([1] * (x.dim() - 1)))
        x = torch.where(hf, x.flip(-1), x)
        return torch.where(vf, x.flip(-2), x)

    def _augment(self, n: int) -> tuple[Any, Any]:
        import torch

        flips = torch.from_numpy(self.rng.random((n, 2)) < 0.5).to(self.device)
        gains = torch.from_numpy(self.rng.uniform(0.75, 1.25, (n, 2)).astype(np.float32)).to(self.device)
        return flips, gains

    def _features(self, images: Any) -> Any:
        return self.model.forward_image(images)

    def _rows(self, backbone: Any, rows: Any) -> tuple[Any, Any, Any]:
        per = {
            "backbone_fpn": [f[rows] for f in backbone["backbone_fpn"]],
            "vision_pos_enc": [p[rows] for p in backbone["vision_pos_enc"]],
        }
        _, feats, pos, sizes = self.model._prepare_backbone_features(per)
        return feats, pos, sizes

    # stage 1 ---------------------------------------------------------------------------------------
    def image_loss(self, n_images: int) -> tuple[Any, dict[str, float]]:
        import torch

        model, s = self.model, self.size
        frame_idx: list[int] = []
        row_img: list[int] = []
        row_obj: list[int] = []
        while len(frame_idx) < n_images:
            c = int(self.rng.integers(len(self.clip_len)))
            f = int(self.rng.integers(self.clip_len[c]))
            vis = self._visible(c, f)
            if len(vis) == 0:
                continue
            pick = self.rng.choice(vis, min(self.plan.prompts_per_image, len(vis)), replace=False)
            for o in pick:
                row_img.append(len(frame_idx))
                row_obj.append(self.offsets[c] + int(o) + 1)
            frame_idx.append(int(self.clip_start[c]) + f)
        idx = torch.tensor(frame_idx, device=self.device)
        rows = torch.tensor(row_img, device=self.device)
        flips, gains = self._augment(len(frame_idx))
        images = self._images(idx, flips, gains)
        target = self._flip(
            self.labels[idx][rows] == torch.tensor(row_obj, device=self.device)[:, None, None], flips[rows]
        )
        boxes = jitter(boxes_of(target), self.plan.box_jitter, self.gen)
        backbone = self._features(images)
        feats, _pos, sizes = self._rows(backbone, rows)
        r = len(row_img)
        pix = (feats[-1] + model.no_mem_embed).permute(1, 2, 0).view(r, model.hidden_dim, *sizes[-1])
        high = [
            x.permute(1, 2, 0).view(x.size(1), x.size(2), *sz) for x, sz in zip(feats[:-1], sizes[:-1], strict=True)
        ]
        n_box = round(r * self.plan.box_fraction)
        total = torch.zeros((), device=self.device)
        logs: dict[str, float] = {}
        tgt = target[:, None].float()
        if n_box:
            pts = {
                "point_coords": boxes[:n_box].view(n_box, 2, 2),
                "point_labels": torch.tensor([[2, 3]] * n_box, device=self.device, dtype=torch.int32),
            }
            out = model._forward_sam_heads(
                pix[:n_box], point_inputs=pts, high_res_features=[h[:n_box] for h in high], multimask_output=False
            )
            loss, lg = mask_losses(out[1], out[2], out[6], tgt[:n_box])
            total = total + loss
            logs.update({f"box_{k}": v for k, v in lg.items()})
        if n_box < r:
            dense = ellipses(boxes[n_box:], s)
            out = model._forward_sam_heads(
                pix[n_box:], mask_inputs=dense, high_res_features=[h[n_box:] for h in high], multimask_output=False
            )
            loss, lg = mask_losses(out[1], out[2], out[6], tgt[n_box:])
            total = total + loss
            logs.update({f"dense_{k}": v for k, v in lg.items()})
        return total, logs

    # stage 2 ---------------------------------------------------------------------------------------
    def track_loss(self, n_windows: int, n_frames: int) -> tuple[Any, dict[str, float]]:
        import torch

        model, s = self.model, self.size
        win_frames: list[list[int]] = []
        row_win: list[int] = []
        row_obj: list[int] = []
        while len(win_frames) < n_windows:
            c = int(self.rng.integers(len(self.clip_len)))
            stride = int(self.rng.integers(1, self.plan.max_stride + 1))
            span = (n_frames - 1) * stride
            if self.clip_len[c] <= span:
                continue
            t0 = int(self.rng.integers(self.clip_len[c] - span))
            vis = self._visible(c, t0)
            if len(vis) == 0:
                continue
            if self.rng.random() < 0.5:  # play backwards too: balls that appear, stop and start
                order = [t0 + span - i * stride for i in range(n_frames)]
                vis = self._visible(c, order[0])
                if len(vis) == 0:
                    continue
            else:
                order = [t0 + i * stride for i in range(n_frames)]
            pick = self.rng.choice(vis, min(self.plan.objects_per_window, len(vis)), replace=False)
            for o in pick:
                row_win.append(len(win_frames))
                row_obj.append(self.offsets[c] + int(o) + 1)
            win_frames.append([int(self.clip_start[c]) + f for f in order])
        w = len(win_frames)
        idx = torch.tensor(win_frames, device=self.device).T.reshape(-1)  # (T * W): frame-major
        flips, gains = self._augment(w)
        images = self._images(idx, flips.repeat(n_frames, 1), gains.repeat(n_frames, 1))
        backbone = self._features(images)
        rows_w = torch.tensor(row_win, device=self.device)
        obj = torch.tensor(row_obj, device=self.device)[:, None, None]
        output_dict: dict[str, dict[int, Any]] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
        total = torch.zeros((), device=self.device)
        logs: dict[str, float] = {}
        for t in range(n_frames):
            rows = rows_w + t * w
            feats, pos, sizes = self._rows(backbone, rows)
            target = self._flip(self.labels[idx[rows]] == obj, flips[rows_w])[:, None].float()
            mask_inputs = None
            if t == 0:
                mask_inputs = ellipses(jitter(boxes_of(target[:, 0] > 0), self.plan.box_jitter, self.gen), s)
            _low_multi, high_multi, ious, _low, _high, _ptr, score = track_frame(
                model, t, feats, pos, sizes, mask_inputs, output_dict
            )
            if t > 0:
                loss, lg = mask_losses(high_multi, ious, score, target)
                total = total + loss / (n_frames - 1)
                for k, v in lg.items():
                    logs[f"track_{k}"] = logs.get(f"track_{k}", 0.0) + v / (n_frames - 1)
                if t == n_frames - 1:
                    logs["last_IoU"] = lg["IoU"]
        return total, logs

    # optimisation ----------------------------------------------------------------------------------
    def optimizer(self, lr: float, encoder_scale: float) -> Any:
        import torch

        enc = [p for n, p in self.model.named_parameters() if n.startswith("image_encoder.")]
        rest = [p for n, p in self.model.named_parameters() if not n.startswith("image_encoder.")]
        groups = [
            {"params": enc, "lr": lr * encoder_scale, "scale": encoder_scale},
            {"params": rest, "lr": lr, "scale": 1.0},
        ]
        return torch.optim.AdamW(groups, lr=lr, weight_decay=0.01)

    def run_step(self, opt: Any, lr: float, loss_fn: Any) -> dict[str, float]:
        import torch

        self.model.train()
        for g in opt.param_groups:
            g["lr"] = lr * g["scale"]
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            loss, logs = loss_fn()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        logs["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0))
        opt.step()
        logs["loss"] = float(loss.detach())
        out: dict[str, float] = logs
        return out


def schedule(frac: float, peak: float, warmup: float = 0.05) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if frac < warmup:
        return peak * frac / warmup
    p = (frac - warmup) / (1 - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(p, 1.0))))


@dataclass
class TrackEval:
    """Tracked IoU on held-out clips: frame 0 conditioned with the ellipse of its true box."""

    per_frame: list[float]
    copy_baseline: list[float]

    @property
    def mean(self) -> float:
        return float(np.mean(self.per_frame[1:]))


def evaluate_tracking(
    model: Any, clips: list[ClipData], *, frames: int = 30, objects: int = 6, starts: int = 3, device: str = "cpu"
) -> TrackEval:
    """Batched held-out check with the training path (no memory trimming); ``evaluate`` uses the session."""
    import torch

    model.eval()
    s = int(model.image_size)
    ious = np.zeros(frames)
    base = np.zeros(frames)
    count = 0
    dev = torch.device(device)
    with torch.no_grad(), torch.autocast(dev.type, dtype=torch.bfloat16, enabled=dev.type == "cuda"):
        for clip in clips:
            areas, full = clip.areas, clip.areas.max(0)
            for k in range(starts):
                t0 = (len(clip.frames) - frames) * k // max(starts - 1, 1)
                vis = np.nonzero((areas[t0] >= 0.5 * full) & (areas[t0] >= 12))[0][:objects]
                if len(vis) == 0 or t0 < 0:
                    continue
                lab = torch.from_numpy(clip.labels[t0 : t0 + frames].astype(np.int16)).to(dev)
                obj = torch.from_numpy(vis + 1).to(dev)[:, None, None]
                output_dict: dict[str, dict[int, Any]] = {"cond_frame_outputs": {}, "non_cond_frame_outputs": {}}
                first = None
                for t in range(frames):
                    img = torch.from_numpy(clip.frames[t0 + t]).to(dev).permute(2, 0, 1)[None].float() / 255.0
                    bb = model.forward_image(normalize(img))
                    per = {
                        "backbone_fpn": [f.expand(len(vis), -1, -1, -1) for f in bb["backbone_fpn"]],
                        "vision_pos_enc": [p.expand(len(vis), -1, -1, -1) for p in bb["vision_pos_enc"]],
                    }
                    _, feats, pos, sizes = model._prepare_backbone_features(per)
                    target = lab[t][None] == obj
                    mask_inputs = ellipses(boxes_of(target), s) if t == 0 else None
                    _, _, _, low, _, _, score = track_frame(model, t, feats, pos, sizes, mask_inputs, output_dict)
                    # the session's answer: low-res logits, upsampled, gated by the object score
                    pred = (
                        torch.nn.functional.interpolate(low.float(), (s, s), mode="bilinear", align_corners=False)[:, 0]
                        > 0
                    )
                    pred &= score.float().view(-1, 1, 1) > 0
                    if first is None:
                        first = pred.clone()
                    for p, store in ((pred, ious), (first, base)):
                        inter = (p & target).flatten(1).sum(1).float()
                        union = (p | target).flatten(1).sum(1).float()
                        absent = ~target.flatten(1).any(1)
                        v = torch.where(absent, (~p.flatten(1).any(1)).float(), inter / union.clamp(min=1))
                        store[t] += float(v.mean())
                count += 1
    model.train()
    return TrackEval((ious / max(count, 1)).tolist(), (base / max(count, 1)).tolist())


def save_sharded(model: Any, out: Path, max_bytes: int = 15_000_000, dtype: Any = None) -> list[Path]:
    """``{"model": part}`` files of at most ``max_bytes`` each (``NAME.0.pt``, ``NAME.1.pt``, ...)."""
    import torch

    parts: list[dict[str, Any]] = [{}]
    size = 0
    for k, v in model.state_dict().items():
        v = v.detach().to("cpu", dtype) if dtype is not None and v.is_floating_point() else v.detach().cpu()
        n = v.numel() * v.element_size()
        if size + n > max_bytes and parts[-1]:
            parts.append({})
            size = 0
        parts[-1][k] = v.clone()
        size += n
    paths = []
    for i, part in enumerate(parts):
        p = out.with_name(f"{out.stem}.{i}.pt")
        torch.save({"model": part}, p)
        paths.append(p)
    return paths


def merge_shards(paths: list[Path], out: Path) -> None:
    """Join ``save_sharded`` files into one checkpoint (``weights_only`` loading, fp32)."""
    import torch

    state: dict[str, Any] = {}
    for p in paths:
        state.update(torch.load(p, map_location="cpu", weights_only=True)["model"])
    torch.save({"model": {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}}, out)


def train_curriculum(
    model: Any,
    clips: list[ClipData],
    plan: Curriculum,
    out: Path,
    *,
    device: str = "cpu",
    eval_clips: list[ClipData] | None = None,
    eval_every_s: float = 60.0,
    log_every: int = 10,
    stages: tuple[str, ...] = ("image", "track"),
    zero_init: bool = True,
    eval_frames: int = 30,
    eval_starts: int = 3,
    sharded: bool = False,
) -> dict[str, Any]:
    """Run ``stages`` inside their time budgets; checkpoint ``out`` at every evaluation and stage end.

    ``zero_init``: memory attention starts as an identity when the tracking stage begins (from
    random weights); off when fine-tuning a model that already tracks.
    """
    import torch

    from edge_detsam2.tracker.model import save_checkpoint

    trainer = CurriculumTrainer(model, clips, plan, device)
    result: dict[str, Any] = {"stages": {}}

    def report(stage: str, step: int, t: float, window: list[dict[str, float]]) -> None:
        avg = {k: float(np.mean([w[k] for w in window if k in w])) for k in window[-1]}
        plan.history.append(
            {"stage": stage, "step": step, "seconds": round(t, 1), **{k: round(v, 5) for k, v in avg.items()}}
        )
        keys = [
            k
            for k in ("loss", "dense_IoU", "box_IoU", "track_IoU", "last_IoU", "frames", "grad_norm", "lr")
            if k in avg
        ]
        msg = " ".join(f"{k} {avg[k]:.4g}" for k in keys)
        print(f"train sam2: {stage} step {step} {t:.0f} s {msg}", file=sys.stderr, flush=True)

    def checkpoint(stage: str, step: int, t: float) -> None:
        if eval_clips:
            ev = evaluate_tracking(model, eval_clips, frames=eval_frames, starts=eval_starts, device=device)
            base = float(np.mean(ev.copy_baseline[1:]))
            plan.history.append(
                {
                    "stage": stage,
                    "step": step,
                    "seconds": round(t, 1),
                    "eval_tracked_iou": round(ev.mean, 4),
                    "eval_copy_baseline": round(base, 4),
                    "eval_per_frame": [round(v, 3) for v in ev.per_frame],
                }
            )
            print(
                f"train sam2: {stage} step {step} held-out tracked IoU {ev.mean:.3f} (copy-frame-0 {base:.3f}); "
                f"last frame {ev.per_frame[-1]:.3f}",
                file=sys.stderr,
                flush=True,
            )
        if sharded:
            save_sharded(model, out)
        else:
            save_checkpoint(model, out)
        out.with_suffix(".history.json").write_text(json.dumps(plan.history) + "\n")

    budgets = {"image": plan.image_seconds, "track": plan.track_seconds}
    for stage in stages:
        budget = budgets[stage]
        if budget <= 0:
            continue
        if stage == "track" and zero_init:
            zero_init_memory_attention(model)
        peak = plan.image_lr if stage == "image" else plan.track_lr
        opt = trainer.optimizer(peak, 1.0 if stage == "image" else plan.encoder_lr_scale)
        t0 = time.monotonic()
        last_eval = t0
        step = 0
        window: list[dict[str, float]] = []
        while (elapsed := time.monotonic() - t0) < budget:
            frac = elapsed / budget
            lr = schedule(frac, peak)
            if stage == "image":
                logs = trainer.run_step(opt, lr, lambda: trainer.image_loss(plan.images_per_step))
            else:
                n_frames = 2 if frac < 0.2 else (min(4, plan.max_frames) if frac < 0.5 else plan.max_frames)

                def loss_fn(n_frames: int = n_frames) -> tuple[Any, dict[str, float]]:
                    loss, lg = trainer.track_loss(plan.windows_per_step, n_frames)
                    if plan.mix_images:
                        l2, lg2 = trainer.image_loss(plan.mix_images)
                        loss = loss + 0.5 * l2
                        lg.update(lg2)
                    return loss, lg

                logs = trainer.run_step(opt, lr, loss_fn)
                logs["frames"] = n_frames
            logs["lr"] = lr
            step += 1
            window.append(logs)
            if step % log_every == 0:
                report(stage, step, elapsed, window)
                window = []
            if time.monotonic() - last_eval > eval_every_s:
                checkpoint(stage, step, time.monotonic() - t0)
                last_eval = time.monotonic()
        if window:
            report(stage, step, time.monotonic() - t0, window)
        checkpoint(stage, step, time.monotonic() - t0)
        result["stages"][stage] = {"steps": step, "seconds": round(time.monotonic() - t0, 1)}
        if stage == "image" and sharded:
            save_sharded(model, out.with_name(f"{out.stem}-image.pt"), dtype=torch.bfloat16)
    result["history"] = plan.history
    return result
