"""SAM2 image encoder (trunk + neck + high-res projections) to ONNX, with parity checks."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def test_image(size: int, seed: int = 0) -> Any:
    """A normalised input that looks like a table: felt, balls, noise (plus SAM2's normalisation)."""
    import cv2
    import torch

    from edge_detsam2.tracker.preprocess import normalize

    rng = np.random.default_rng(seed)
    img = np.zeros((size, size, 3), np.uint8)
    img[:] = (30, 110, 60)
    for _ in range(10):
        c = tuple(int(v) for v in rng.integers(size // 10, size - size // 10, 2))
        colour = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.circle(img, c, max(3, size // 40), colour, -1)
    img = np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)
    x = torch.from_numpy(img / 255.0).permute(2, 0, 1).float()
    return normalize(x).unsqueeze(0)


def export_onnx(model: Any, path: Path, *, opset: int, half: bool) -> dict[str, list[int]]:
    """Write the encoder graph to ``path`` (fixed input 1x3xSxS); returns output shapes."""
    import torch

    from edge_detsam2.tracker.encoders import OUTPUT_NAMES, encoder_module

    module = encoder_module(model)
    size = int(model.image_size)
    device = next(model.parameters()).device
    x = torch.zeros(1, 3, size, size, device=device)
    if half:
        module, x = module.half(), x.half()
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes
        outs = module(x)
        torch.onnx.export(
            module,
            (x,),
            str(path),
            input_names=["image"],
            output_names=list(OUTPUT_NAMES),
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    if half:
        module.float()
    return {n: list(o.shape) for n, o in zip(OUTPUT_NAMES, outs, strict=True)}


def parity(model: Any, encoder: Any, *, seeds: tuple[int, ...] = (0, 1)) -> dict[str, Any]:
    """Max-abs error and cosine similarity of each output level, artifact vs torch."""
    import torch

    size = int(model.image_size)
    device = next(model.parameters()).device
    worst: dict[str, dict[str, float]] = {}
    for seed in seeds:
        x = test_image(size, seed).to(device)
        with torch.inference_mode():
            ref = model.forward_image(x)["backbone_fpn"]
            got = encoder(x)["backbone_fpn"]
        for i, (r, g) in enumerate(zip(ref, got, strict=True)):
            r32, g32 = r.float().flatten(), g.float().to(r.device).flatten()
            err = float((r32 - g32).abs().max())
            cos = float(torch.nn.functional.cosine_similarity(r32, g32, dim=0))
            w = worst.setdefault(f"fpn{i}", {"max_abs": 0.0, "cosine": 1.0, "ref_abs_max": 0.0})
            w["max_abs"] = max(w["max_abs"], err)
            w["cosine"] = min(w["cosine"], cos)
            w["ref_abs_max"] = max(w["ref_abs_max"], float(r32.abs().max()))
    return worst
