"""Preload memory bank: conditioning memories of curated objects, saved safely and reloaded.

A bank seeds a new stream so it tracks known objects without any prompt
(``detect_interval: -1``). Stored as ``<path>.safetensors`` (tensors only) plus
``<path>.json`` (metadata): never pickle. A bank only loads into the model it was made
with: the model fingerprint (architecture and weights) and image size must match.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_detsam2.tracker.model import TrackerError

if TYPE_CHECKING:
    from edge_detsam2.tracker.session import StreamingSession

FORMAT = "edge-detsam2-bank/1"
_FIELDS = ("maskmem_features", "pred_masks", "obj_ptr", "object_score_logits")


def model_fingerprint(model: Any) -> str:
    """SHA-256 over parameter names, shapes and values (any change makes banks incompatible)."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _paths(path: Path) -> tuple[Path, Path]:
    stem = path.with_suffix("") if path.suffix in (".json", ".safetensors") else path
    return stem.with_suffix(".safetensors"), stem.with_suffix(".json")


def save_bank(session: StreamingSession, path: Path) -> tuple[Path, Path]:
    """Write the session's conditioning memories (all objects) as a bank."""
    from safetensors.torch import save_file

    tensors: dict[str, Any] = {}
    objects = []
    now = session.frame_idx
    for obj in session._objects.values():
        frames = sorted(obj.cond)
        for k in frames:
            for f in _FIELDS:
                tensors[f"{obj.obj_id}/{k - now - 1}/{f}"] = obj.cond[k][f].contiguous()
        objects.append({"obj_id": obj.obj_id, "label": obj.label, "frames": [k - now - 1 for k in frames]})
    if session._maskmem_pos_enc is None:
        raise TrackerError("the session has no memories yet: track at least one frame before saving a bank")
    for i, pe in enumerate(session._maskmem_pos_enc):
        tensors[f"maskmem_pos_enc/{i}"] = pe.contiguous()
    st_path, json_path = _paths(path)
    save_file(tensors, str(st_path))
    meta = {
        "format": FORMAT,
        "model_fingerprint": model_fingerprint(session.model),
        "image_size": session.image_size,
        "video_size": list(session.video_size or (0, 0)),
        "objects": objects,
    }
    json_path.write_text(json.dumps(meta, indent=1) + "\n")
    return st_path, json_path


def load_bank(session: StreamingSession, path: Path) -> None:
    """Seed a fresh session with a bank's objects; their memories are never evicted."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from edge_detsam2.tracker.session import _Object

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
    if meta.get("image_size") != session.image_size:
        raise TrackerError(
            f"memory bank {json_path} was made at image size {meta.get('image_size')}, "
            f"the model runs at {session.image_size}; rebuild the bank with this model"
        )
    if meta.get("model_fingerprint") != model_fingerprint(session.model):
        raise TrackerError(
            f"memory bank {json_path} was made with another SAM2 model or checkpoint; "
            "rebuild the bank with the configured model"
        )
    if session.frame_idx >= 0 or session.object_ids:
        raise TrackerError("load a memory bank into a new session, before its first frame")
    try:
        tensors = load_file(str(st_path), device=str(session.device))
    except (SafetensorError, OSError) as exc:
        raise TrackerError(f"memory bank {st_path} cannot be read ({exc})") from None
    pos = sorted((k for k in tensors if k.startswith("maskmem_pos_enc/")), key=lambda k: int(k.split("/")[1]))
    pos_enc = [tensors[k] for k in pos]
    objects: dict[int, Any] = {}
    try:
        for entry in meta["objects"]:
            obj = _Object(int(entry["obj_id"]), str(entry["label"]))
            for k in entry["frames"]:
                out: dict[str, Any] = {f: tensors[f"{obj.obj_id}/{k}/{f}"] for f in _FIELDS}
                out["maskmem_pos_enc"] = pos_enc
                obj.cond[int(k)] = out
            objects[obj.obj_id] = obj
    except KeyError as exc:  # the pair was not written together
        raise TrackerError(
            f"memory bank {path}: {json_path.name} names tensor {exc} that {st_path.name} lacks; rebuild the bank"
        ) from None
    except (TypeError, ValueError) as exc:
        raise TrackerError(f"memory bank {json_path}: malformed objects list ({exc}); rebuild the bank") from None
    session._maskmem_pos_enc = pos_enc
    session._objects.update(objects)
    if meta.get("video_size") and meta["video_size"] != [0, 0]:
        session.video_size = (int(meta["video_size"][0]), int(meta["video_size"][1]))
