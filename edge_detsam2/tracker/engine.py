"""The streaming SAM2 session on exported parts: numpy bookkeeping, no torch.

``PartsSession`` has ``StreamingSession``'s API and computes what its ``track_step`` calls
compute, with SAM2's networks run by a ``PartRunner`` (ONNX Runtime, TensorRT through ONNX
Runtime, or the torch modules of ``tracker.parts`` for parity checks). The memory rules are
``SAM2Base._prepare_memory_conditioned_features`` transcribed: the closest
``max_cond_frames`` prompted frames, the last ``num_maskmem - 1`` tracked frames with their
temporal encodings, and up to 16 object pointers. Memories are stored rounded to bfloat16,
as ``SAM2VideoPredictor`` stores them. Objects whose memories have the same shape run as one
batch; all objects of a frame share one memory-encoder call.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.tracker.model import TrackerError
from edge_detsam2.tracker.preprocess import MEAN, STD, resize_square
from edge_detsam2.tracker.session import PromptQueue, TrackedMasks, ellipse_masks

F32 = NDArray[np.float32]


class PartRunner(Protocol):
    """Runs the exported parts by name on numpy inputs; knows the model's constants."""

    name: str
    hyperparams: dict[str, Any]
    constants: dict[str, F32]
    #: milliseconds spent in each part since the runner was made
    part_ms: dict[str, float]

    def __call__(self, part: str, **inputs: NDArray[Any]) -> tuple[F32, ...]: ...


def bf16_round(x: F32) -> F32:
    """Round float32 to the nearest bfloat16 (ties to even) and back, as ``.to(torch.bfloat16)`` does."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32)
    u = (u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) & np.uint32(0xFFFF0000)
    return u.view(np.float32)


def select_closest_cond_frames(
    frame_idx: int, cond: dict[int, _Memory], max_num: int
) -> tuple[dict[int, _Memory], dict[int, _Memory]]:
    """``sam2.modeling.sam2_utils.select_closest_cond_frames``."""
    if max_num == -1 or len(cond) <= max_num:
        return cond, {}
    selected: dict[int, _Memory] = {}
    before = max((t for t in cond if t < frame_idx), default=None)
    if before is not None:
        selected[before] = cond[before]
    after = min((t for t in cond if t >= frame_idx), default=None)
    if after is not None:
        selected[after] = cond[after]
    rest = sorted((t for t in cond if t not in selected), key=lambda x: abs(x - frame_idx))
    selected.update((t, cond[t]) for t in rest[: max_num - len(selected)])
    return selected, {t: v for t, v in cond.items() if t not in selected}


@dataclass
class _Memory:
    """One stored frame output of one object."""

    maskmem: F32  # (mem_dim, h, w), bfloat16-rounded
    obj_ptr: F32  # (hidden_dim,)
    pred_masks: F32  # (1, S/4, S/4)
    score: float


@dataclass
class _Object:
    obj_id: int
    label: str
    cond: dict[int, _Memory] = field(default_factory=dict)
    non_cond: dict[int, _Memory] = field(default_factory=dict)


class PartsSession(PromptQueue):
    """Feed frames with ``step``; prompt objects with ``add_box`` before the frame they refer to."""

    def __init__(self, runner: PartRunner, *, max_cond_frames: int = 4) -> None:
        if max_cond_frames < 1:
            raise TrackerError("max_cond_frames must be >= 1")
        self.runner = runner
        hp = runner.hyperparams
        self.image_size = int(hp["image_size"])
        self.feat = int(hp["feat_size"])
        self.hidden = int(hp["hidden_dim"])
        self.mem_dim = int(hp["mem_dim"])
        self.num_maskmem = int(hp["num_maskmem"])
        self.max_ptrs = int(hp["max_obj_ptrs_in_encoder"])
        self.stride = int(hp["memory_temporal_stride_for_eval"])
        self.max_cond_frames = max_cond_frames
        self.keep_non_cond = max(self.num_maskmem, self.max_ptrs)
        hw = self.feat * self.feat
        self._mem_pos = runner.constants["maskmem_pos_enc"].reshape(self.mem_dim, hw).T.copy()  # (HW, 64)
        self._tpos = runner.constants["maskmem_tpos_enc"].reshape(-1, self.mem_dim)
        self._objects: dict[int, _Object] = {}
        self._prompts: dict[int, tuple[NDArray[np.float64], str, bool]] = {}
        self.frame_idx = -1
        self.video_size: tuple[int, int] | None = None
        self.stage_ms: dict[str, float] = defaultdict(float)

    def step(self, frame_rgb: NDArray[np.uint8]) -> TrackedMasks:
        size = self._next_frame(frame_rgb)
        t = self.frame_idx
        fpn0, fpn1, fpn2 = self._run("image_encoder", image=self._preprocess(frame_rgb))
        # (object, kind, low_res, high_res, obj_ptr, score): kind "box" masks are binarized for memory
        done: list[tuple[_Object, bool, F32, F32, F32, F32]] = []
        for as_mask in (False, True):
            prompted = [(i, b, lb) for i, (b, lb, m) in self._prompts.items() if m == as_mask]
            if not prompted:
                continue
            objs = []
            for obj_id, _, label in prompted:
                obj = self._objects.setdefault(obj_id, _Object(obj_id, label))
                obj.label = label
                objs.append(obj)
            boxes = np.stack([b for _, b, _ in prompted])
            if as_mask:
                assert self.video_size is not None
                masks = ellipse_masks(boxes, self.video_size, self.image_size)
                out = self._run("mask_prompt", feat=fpn2, fpn0=fpn0, fpn1=fpn1, mask=masks)
            else:
                out = self._run("decoder_box", pix_feat=fpn2, fpn0=fpn0, fpn1=fpn1, **self._box_points(boxes))
            done.extend((o, not as_mask, *(x[i] for x in out)) for i, o in enumerate(objs))  # type: ignore[misc]
        self._prompts.clear()
        prompted_ids = {o.obj_id for o, *_ in done}
        for group, memory in self._groups(t, exclude=prompted_ids):
            (pix,) = self._run("memory_attention", feat=fpn2, **memory)
            out = self._run("decoder_track", pix_feat=pix, fpn0=fpn0, fpn1=fpn1)
            done.extend((o, False, *(x[i] for x in out)) for i, o in enumerate(group))  # type: ignore[misc]
        if done:
            (maskmem,) = self._run(
                "memory_encoder",
                feat=fpn2,
                high_res=np.stack([d[3] for d in done]),
                score=np.stack([d[5] for d in done]),
                from_points=np.array([1.0 if d[1] else 0.0 for d in done], dtype=np.float32),
            )
            maskmem = bf16_round(maskmem)
            for i, (obj, _, low, _, ptr, score) in enumerate(done):
                mem = _Memory(maskmem[i], ptr.astype(np.float32), low, float(score.reshape(-1)[0]))
                (obj.cond if obj.obj_id in prompted_ids else obj.non_cond)[t] = mem
                self._trim(obj, t)
        results = {o.obj_id: (low, score) for o, _, low, _, _, score in done}
        ids = tuple(o for o in self._objects if o in results)
        h = self.image_size // 4
        logits = np.stack([results[o][0] for o in ids]) if ids else np.zeros((0, 1, h, h), np.float32)
        scores = np.array([float(results[o][1].reshape(-1)[0]) for o in ids], dtype=np.float32)
        labels = tuple(self._objects[o].label for o in ids)
        return TrackedMasks(t, ids, labels, logits.astype(np.float32), scores, size)

    # -- internals ---------------------------------------------------------------------
    def _run(self, part: str, **inputs: NDArray[Any]) -> tuple[F32, ...]:
        t0 = time.perf_counter()
        out = self.runner(part, **inputs)
        self.stage_ms[part] += (time.perf_counter() - t0) * 1e3
        return out

    def _preprocess(self, frame_rgb: NDArray[np.uint8]) -> F32:
        """``preprocess.to_model_input`` in numpy: the same float32 operations."""
        x: F32 = (resize_square(frame_rgb, self.image_size) / 255.0).astype(np.float32)
        x = np.asarray((x - np.array(MEAN, np.float32)) / np.array(STD, np.float32), dtype=np.float32)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def _box_points(self, boxes: NDArray[np.float64]) -> dict[str, NDArray[Any]]:
        assert self.video_size is not None
        h, w = self.video_size
        pts: F32 = boxes.astype(np.float32).reshape(len(boxes), 2, 2)
        pts = np.asarray(pts / np.array([w, h], np.float32) * np.float32(self.image_size), dtype=np.float32)
        return {"point_coords": pts, "point_labels": np.tile(np.array([[2, 3]], np.int32), (len(boxes), 1))}

    def _memory_of(self, obj: _Object, t: int) -> tuple[list[tuple[int, _Memory]], list[tuple[int, _Memory]]]:
        """(t_pos, memory) spatial entries and (t_diff, memory) pointer entries, in SAM2's order."""
        selected, unselected = select_closest_cond_frames(t, obj.cond, self.max_cond_frames)
        spatial: list[tuple[int, _Memory]] = [(0, m) for m in selected.values()]
        for t_pos in range(1, self.num_maskmem):
            t_rel = self.num_maskmem - t_pos
            prev = t - 1 if t_rel == 1 else ((t - 2) // self.stride) * self.stride - (t_rel - 2) * self.stride
            m = obj.non_cond.get(prev, unselected.get(prev))
            if m is not None:
                spatial.append((t_pos, m))
        ptrs: list[tuple[int, _Memory]] = [(t - tc, m) for tc, m in selected.items() if tc <= t]
        for t_diff in range(1, self.max_ptrs):
            tt = t - t_diff
            if tt < 0:
                break
            m = obj.non_cond.get(tt, unselected.get(tt))
            if m is not None:
                ptrs.append((t_diff, m))
        return spatial, ptrs

    def _groups(self, t: int, exclude: set[int]) -> list[tuple[list[_Object], dict[str, F32]]]:
        """Tracked objects batched by memory shape, with their stacked memory inputs."""
        by_shape: dict[tuple[int, int], list[tuple[_Object, list[Any], list[Any]]]] = defaultdict(list)
        for obj in self._objects.values():
            if obj.obj_id in exclude or not (obj.cond or obj.non_cond):
                continue
            spatial, ptrs = self._memory_of(obj, t)
            if not spatial or not ptrs:
                raise TrackerError(f"object {obj.obj_id} has no memory to track from at frame {t}")
            by_shape[(len(spatial), len(ptrs))].append((obj, spatial, ptrs))
        split = self.hidden // self.mem_dim
        groups = []
        for items in by_shape.values():
            mem, mem_pos, ptr, ptr_pos = [], [], [], []
            # every object in the group has the same pointer distances only if their frames agree;
            # the temporal encodings are computed per object (one small call for all)
            t_diffs = np.array([d for _, _, ps in items for d, _ in ps], dtype=np.float32)
            (enc,) = self._run("ptr_tpos", t_diff=t_diffs)
            k = 0
            for _, spatial, ptrs in items:
                mem.append(np.concatenate([m.maskmem.reshape(self.mem_dim, -1).T for _, m in spatial]))
                mem_pos.append(
                    np.concatenate([self._mem_pos + self._tpos[self.num_maskmem - tp - 1] for tp, _ in spatial])
                )
                ptr.append(np.stack([m.obj_ptr for _, m in ptrs]).reshape(len(ptrs) * split, self.mem_dim))
                ptr_pos.append(np.repeat(enc[k : k + len(ptrs)], split, axis=0))
                k += len(ptrs)
            groups.append(
                (
                    [o for o, _, _ in items],
                    {
                        "memory": np.stack(mem).astype(np.float32),
                        "memory_pos": np.stack(mem_pos).astype(np.float32),
                        "ptr": np.stack(ptr).astype(np.float32),
                        "ptr_pos": np.stack(ptr_pos).astype(np.float32),
                    },
                )
            )
        return groups

    def _trim(self, obj: _Object, t: int) -> None:
        for k in [k for k in obj.non_cond if k <= t - self.keep_non_cond]:
            del obj.non_cond[k]
        own = sorted(k for k in obj.cond if k >= 0)
        while len(own) > self.max_cond_frames:
            del obj.cond[own.pop(0)]
