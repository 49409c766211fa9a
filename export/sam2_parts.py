"""Every per-frame SAM2 part to ONNX (``tracker.parts``), with per-part and tracked-mask parity.

The set is a directory: one ``<part>.onnx`` per part, ``constants.npz`` (memory positional
encodings) and the ``parts.json`` sidecar (hyperparameters, file hashes, source, parity).
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from edge_detsam2.tracker.runners import CONSTANTS, SIDECAR

logger = logging.getLogger(__name__)


def export_part(name: str, module: Any, inputs: dict[str, Any], path: Path, *, opset: int) -> None:
    import torch

    from edge_detsam2.tracker.parts import DYNAMIC, OUTPUTS

    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
        torch.onnx.export(
            module,
            tuple(inputs.values()),
            str(path),
            input_names=list(inputs),
            output_names=list(OUTPUTS[name]),
            dynamic_axes=DYNAMIC[name] or None,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )


def export_parts(model: Any, out_dir: Path, *, opset: int, source: dict[str, Any]) -> dict[str, Any]:
    """Write the parts set for ``model`` to ``out_dir``; returns the sidecar dict (without parity)."""
    from edge_detsam2.artifacts import PARTS_SCHEMA, file_sha256, runtime_versions
    from edge_detsam2.tracker import parts

    out_dir.mkdir(parents=True, exist_ok=True)
    modules = parts.build_parts(model)
    examples = parts.example_inputs(model)
    files = {}
    for name, module in modules.items():
        path = out_dir / f"{name}.onnx"
        export_part(name, module, examples[name], path, opset=opset)
        files[name] = file_sha256(path)
    np.savez(out_dir / CONSTANTS, **parts.constants(model))
    meta = {
        "schema": PARTS_SCHEMA,
        "kind": "sam2_parts",
        "format": "onnx",
        "parts": list(modules),
        "files": files,
        "constants_sha256": file_sha256(out_dir / CONSTANTS),
        "hyperparams": parts.hyperparams(model),
        "opset": opset,
        "versions": runtime_versions(),
        **source,
    }
    write_sidecar(out_dir, meta)
    return meta


def write_sidecar(out_dir: Path, meta: dict[str, Any]) -> None:
    (out_dir / SIDECAR).write_text(json.dumps(meta, indent=1) + "\n")


def part_parity(model: Any, runner: Any, *, seeds: tuple[int, ...] = (0, 1)) -> dict[str, dict[str, float]]:
    """Max-abs error and cosine similarity of every output of every part, runner vs torch, random inputs."""
    import torch

    from edge_detsam2.tracker import parts

    modules = parts.build_parts(model)
    worst: dict[str, dict[str, float]] = {}
    for seed in seeds:
        examples = parts.example_inputs(model, batch=3, frames=2 + seed, ptrs=3 + seed, seed=seed)
        for name, module in modules.items():
            ref = parts.run_torch(module, examples[name])
            got = runner(name, **{k: v.numpy() for k, v in examples[name].items()})
            for oname, r, g in zip(parts.OUTPUTS[name], ref, got, strict=True):
                r32 = r.float().flatten()
                g32 = torch.from_numpy(np.asarray(g, dtype=np.float32)).flatten()
                w = worst.setdefault(f"{name}.{oname}", {"max_abs": 0.0, "cosine": 1.0, "ref_abs_max": 0.0})
                w["max_abs"] = max(w["max_abs"], float((r32 - g32).abs().max()))
                cos = float(torch.nn.functional.cosine_similarity(r32, g32, dim=0)) if r32.abs().max() > 0 else 1.0
                w["cosine"] = min(w["cosine"], cos)
                w["ref_abs_max"] = max(w["ref_abs_max"], float(r32.abs().max()))
    return worst


def synthetic_clip(n_frames: int, n_objects: int, size: tuple[int, int] = (360, 640), seed: int = 0) -> Any:
    """Coloured discs moving on felt: frames and per-frame boxes (for tracked-mask parity)."""
    import cv2

    rng = np.random.default_rng(seed)
    h, w = size
    start = np.stack([rng.uniform(60, w - 60, n_objects), rng.uniform(60, h - 60, n_objects)], axis=1)
    vel = rng.normal(0, 2.5, (n_objects, 2))
    frames, boxes = [], []
    for f in range(n_frames):
        img = np.zeros((h, w, 3), np.uint8)
        img[:] = (30, 110, 60)
        p = start + vel * f
        p[:, 0] = np.abs((p[:, 0] - 20) % (2 * (w - 40)) - (w - 40)) + 20  # bounce off the cushions
        p[:, 1] = np.abs((p[:, 1] - 20) % (2 * (h - 40)) - (h - 40)) + 20
        for i, (x, y) in enumerate(p):
            colour = (255 - 35 * i % 256, 40 * i % 256, (90 + 60 * i) % 256)
            cv2.circle(img, (int(x), int(y)), 9, colour, -1)
        frames.append(img)
        boxes.append(np.concatenate([p - 11, p + 11], axis=1))
    return frames, boxes


def tracked_parity(
    model: Any, runner: Any, *, frames: int = 60, objects: int = 6, prompt_every: int = 30, max_cond_frames: int = 2
) -> dict[str, Any]:
    """Masks of the streaming torch session vs the parts session on ``runner``: IoU per frame."""
    from edge_detsam2.tracker.engine import PartsSession
    from edge_detsam2.tracker.session import StreamingSession

    clip, boxes = synthetic_clip(frames, objects)
    ref = StreamingSession(model, max_cond_frames=max_cond_frames)
    got = PartsSession(runner, max_cond_frames=max_cond_frames)
    ious, max_abs, score_abs = [], 0.0, 0.0
    for f, img in enumerate(clip):
        if f % prompt_every == 0:
            for i, box in enumerate(boxes[f]):
                for s in (ref, got):
                    s.add_box(i, box, str(i), as_mask=i % 2 == 0)  # both prompt kinds
        a, b = ref.step(img), got.step(img)
        if a.obj_ids != b.obj_ids:
            raise AssertionError(f"frame {f}: objects {a.obj_ids} vs {b.obj_ids}")
        ma, mb = a.mask_logits > 0, b.mask_logits > 0
        inter, union = (ma & mb).sum(axis=(1, 2, 3)), (ma | mb).sum(axis=(1, 2, 3))
        ious.append(float(np.where(union > 0, inter / np.maximum(union, 1), 1.0).min()))
        max_abs = max(max_abs, float(np.abs(a.mask_logits - b.mask_logits).max()))
        score_abs = max(score_abs, float(np.abs(a.object_score_logits - b.object_score_logits).max()))
    return {
        "frames": frames,
        "objects": objects,
        "min_iou": min(ious),
        "mean_iou": float(np.mean(ious)),
        "frames_iou_below_0.99": sum(i < 0.99 for i in ious),
        "mask_logit_max_abs": max_abs,
        "score_max_abs": score_abs,
    }
