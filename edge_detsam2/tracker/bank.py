"""Preload memory bank: conditioning memories of curated objects, saved safely and reloaded.

A bank seeds a new stream so it tracks known objects without any prompt
(``detect_interval: -1``). Stored as ``<path>.safetensors`` (tensors only) plus
``<path>.json`` (metadata): never pickle. A bank only loads into the model it was made
with: the model fingerprint (architecture and weights) and image size must match.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_detsam2.tracker.model import TrackerError

FORMAT = "edge-detsam2-bank/1"
FIELDS = ("maskmem_features", "pred_masks", "obj_ptr", "object_score_logits")


@dataclass
class BankObject:
    """One object's conditioning memories; frame keys are relative (-1 = the frame before the stream)."""

    obj_id: int
    label: str
    cond: dict[int, dict[str, Any]] = field(default_factory=dict)  # frame -> {field: tensor}


@dataclass
class Bank:
    """What a bank holds; ``StreamingSession.export_bank`` / ``import_bank`` convert it."""

    objects: list[BankObject]
    maskmem_pos_enc: list[Any]
    image_size: int
    video_size: tuple[int, int] | None
    model_fingerprint: str


def _paths(path: Path) -> tuple[Path, Path]:
    stem = path.with_suffix("") if path.suffix in (".json", ".safetensors") else path
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_bank(bank: Bank, path: Path) -> tuple[Path, Path]:
    """Write a bank as ``.safetensors`` (tensors) + ``.json`` (metadata)."""
    from safetensors.torch import save_file

    tensors: dict[str, Any] = {}
    objects = []
    for obj in bank.objects:
        frames = sorted(obj.cond)
        for k in frames:
            for f in FIELDS:
                tensors[f"{obj.obj_id}/{k}/{f}"] = obj.cond[k][f].contiguous()
        objects.append({"obj_id": obj.obj_id, "label": obj.label, "frames": frames})
    for i, pe in enumerate(bank.maskmem_pos_enc):
        tensors[f"maskmem_pos_enc/{i}"] = pe.contiguous()
    st_path, json_path = _paths(path)
    save_file(tensors, str(st_path))
    meta = {
        "format": FORMAT,
        "model_fingerprint": bank.model_fingerprint,
        "image_size": bank.image_size,
        "video_size": list(bank.video_size or (0, 0)),
        "objects": objects,
    }
    json_path.write_text(json.dumps(meta, indent=1) + "\n")
    return st_path, json_path


def load_bank(path: Path, *, image_size: int, model_fingerprint: str, device: str) -> Bank:
    """Read a bank made with the model of this fingerprint and image size (else ``TrackerError``)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    st_path, json_path = _paths(path)
    for p in (st_path, json_path):
        if not p.is_file():
            raise TrackerError(f"memory bank file {p} is missing; a bank is a .safetensors + .json pair")
    try:
        meta = json.loads(json_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise TrackerError(f"memory bank {json_path}: invalid JSON ({exc.msg})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TrackerError(f"memory bank {json_path} cannot be read ({exc}); rebuild the bank") from None
    if meta.get("format") != FORMAT:
        raise TrackerError(f"memory bank {json_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    if meta.get("image_size") != image_size:
        raise TrackerError(
            f"memory bank {json_path} was made at image size {meta.get('image_size')}, "
            f"the model runs at {image_size}; rebuild the bank with this model"
        )
    if meta.get("model_fingerprint") != model_fingerprint:
        raise TrackerError(
            f"memory bank {json_path} was made with another SAM2 model or checkpoint; "
            "rebuild the bank with the configured model"
        )
    try:
        tensors = load_file(str(st_path), device=device)
    except (SafetensorError, OSError) as exc:
        raise TrackerError(f"memory bank {st_path} cannot be read ({exc})") from None
    pos = sorted((k for k in tensors if k.startswith("maskmem_pos_enc/")), key=lambda k: int(k.split("/")[1]))
    pos_enc = [tensors[k] for k in pos]
    objects: list[BankObject] = []
    try:
        for entry in meta["objects"]:
            obj = BankObject(int(entry["obj_id"]), str(entry["label"]))
            for k in entry["frames"]:
                obj.cond[int(k)] = {f: tensors[f"{obj.obj_id}/{k}/{f}"] for f in FIELDS}
            objects.append(obj)
    except KeyError as exc:  # the pair was not written together
        raise TrackerError(
            f"memory bank {path}: {json_path.name} names tensor {exc} that {st_path.name} lacks; rebuild the bank"
        ) from None
    except (TypeError, ValueError) as exc:
        raise TrackerError(f"memory bank {json_path}: malformed objects list ({exc}); rebuild the bank") from None
    vs = meta.get("video_size")
    video_size = (int(vs[0]), int(vs[1])) if vs and vs != [0, 0] else None
    return Bank(objects, pos_enc, image_size, video_size, model_fingerprint)
