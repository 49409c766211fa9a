"""Build SAM2.1 models from the official Hydra configs and load checkpoints safely.

The model is the official ``SAM2VideoPredictor`` class built exactly as
``sam2.build_sam.build_sam2_video_predictor`` builds it (same post-processing flags), so
a streaming session computes what Meta's predictor computes. Checkpoints are read with
``torch.load(weights_only=True)``: no pickled code ever runs.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_detsam2.errors import EdgeDetSam2Error

logger = logging.getLogger(__name__)

#: The overrides ``build_sam2_video_predictor`` applies on top of a model config.
PREDICTOR_OVERRIDES = (
    "++model._target_=sam2.sam2_video_predictor.SAM2VideoPredictor",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_via_stability=true",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_delta=0.05",
    "++model.sam_mask_decoder_extra_args.dynamic_multimask_stability_thresh=0.98",
    "++model.binarize_mask_from_pts_for_mem_enc=true",
    "++model.fill_hole_area=8",
)


class TrackerError(EdgeDetSam2Error):
    """The tracker model or its checkpoint cannot be used."""


@dataclass(frozen=True)
class ModelSpec:
    """Which SAM2 model: an official config name plus Hydra overrides, and a checkpoint."""

    config: str = "configs/sam2.1/sam2.1_hiera_t.yaml"
    checkpoint: Path | None = None
    overrides: tuple[str, ...] = field(default_factory=tuple)
    device: str = "cpu"


def small_overrides(image_size: int = 256, layers: int = 1) -> tuple[str, ...]:
    """A reduced hiera-tiny: fewer trunk blocks and attention layers, smaller images.

    Same modules and code paths as the full model; used by tests and CPU benchmarks.
    """
    feat = image_size // 16
    return (
        f"++model.image_size={image_size}",
        "++model.image_encoder.trunk.stages=[1,1,2,1]",
        "++model.image_encoder.trunk.global_att_blocks=[3]",
        f"++model.memory_attention.num_layers={layers}",
        "++model.memory_attention.layer.dim_feedforward=512",
        f"++model.memory_attention.layer.self_attention.feat_sizes=[{feat},{feat}]",
        f"++model.memory_attention.layer.cross_attention.feat_sizes=[{feat},{feat}]",
    )


def slim_overrides(image_size: int = 256, num_maskmem: int | None = None) -> tuple[str, ...]:
    """``small_overrides`` with half-width Hiera stages (48..384 channels): the bundled CPU model.

    9.3 M parameters (the image encoder shrinks from 10.8 M to 2.8 M); mask decoder, memory
    attention and memory encoder are SAM2.1's own. ``num_maskmem``: memory frames (SAM2.1: 7).
    """
    mem = () if num_maskmem is None else (f"++model.num_maskmem={num_maskmem}",)
    return (
        *small_overrides(image_size),
        "++model.image_encoder.trunk.embed_dim=48",
        "++model.image_encoder.trunk.num_heads=1",
        "++model.image_encoder.neck.backbone_channel_list=[384,192,96,48]",
        *mem,
    )


#: The bundled SAM2 model (``data/models/sam2-slim-512.pt``): slim hiera-tiny at 512 px, 4 memory frames.
BUNDLED_OVERRIDES = slim_overrides(512, num_maskmem=4)


def build_model(spec: ModelSpec) -> Any:
    """Instantiate the model and load its checkpoint; errors say what to do."""
    import sam2  # noqa: F401  (registers the sam2 config module with Hydra)
    import torch
    from hydra import compose
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    try:
        cfg = compose(config_name=spec.config, overrides=[*PREDICTOR_OVERRIDES, *spec.overrides])
    except Exception as exc:  # hydra raises several exception types for bad names/overrides
        raise TrackerError(f"SAM2 config {spec.config!r} with overrides {list(spec.overrides)}: {exc}") from None
    OmegaConf.resolve(cfg)
    model = instantiate(cfg.model, _recursive_=True)
    if spec.checkpoint is not None:
        load_checkpoint(model, spec.checkpoint)
    else:
        logger.warning("SAM2 model %s has no checkpoint: random weights (tests and benchmarks only)", spec.config)
    model = model.to(torch.device(spec.device))
    model.eval()
    return model


def load_checkpoint(model: Any, path: Path) -> None:
    """Load ``{"model": state_dict}`` with weights_only=True; strict key match."""
    import torch

    if not path.is_file():
        raise TrackerError(f"SAM2 checkpoint {path} does not exist; set tracker.checkpoint to a .pt file")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated file, not a torch file, or pickled code refused
        raise TrackerError(
            f"SAM2 checkpoint {path} cannot be read safely ({type(exc).__name__}): re-download or re-export it"
        ) from None
    state = data.get("model") if isinstance(data, dict) else None
    if not isinstance(state, dict):
        raise TrackerError(f"SAM2 checkpoint {path} has no 'model' state dict; is it a SAM2 checkpoint?")
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        example = (result.missing_keys or result.unexpected_keys)[0]
        raise TrackerError(
            f"SAM2 checkpoint {path} does not match the model config: {len(result.missing_keys)} missing and "
            f"{len(result.unexpected_keys)} unexpected keys (e.g. {example}); "
            "use the config the checkpoint was trained with"
        )


def save_checkpoint(model: Any, path: Path) -> None:
    """Save in the official layout (``{"model": state_dict}``) — tensors only."""
    import torch

    torch.save({"model": model.state_dict()}, path)


def model_fingerprint(model: Any) -> str:
    """SHA-256 over parameter names, shapes and values (any change makes banks incompatible)."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()
