"""Exported model artifacts: where they live, what they say about themselves, and checks.

``edge-detsam2 export`` writes each artifact (``.onnx`` or ``.engine``) with a JSON sidecar
into a cache directory, under a name keyed by a hash of everything the artifact depends on
(model weights, image size, precision, format, opset). The daemon computes the same key
from its config, loads the artifact only if the sidecar matches (and, for TensorRT, the
running TensorRT version and GPU), and otherwise refuses with the command that rebuilds it.
The daemon never builds artifacts itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from edge_detsam2 import __version__
from edge_detsam2.errors import EdgeDetSam2Error

FORMAT = "edge-detsam2-artifact/1"
Kind = Literal["sam2_image_encoder", "yolo"]
Fmt = Literal["onnx", "engine"]


class ArtifactError(EdgeDetSam2Error):
    """An exported artifact is missing, corrupt or built for something else (exit status 2)."""

    exit_code = 2


def cache_dir(configured: Path | None) -> Path:
    """``export.cache_dir``, else $CACHE_DIRECTORY (systemd CacheDirectory=), else ~/.cache/edge-detsam2."""
    if configured is not None:
        return configured
    env = os.environ.get("CACHE_DIRECTORY")
    if env:
        return Path(env.split(":")[0])
    return Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache"))) / "edge-detsam2"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def artifact_key(kind: Kind, fmt: Fmt, source_hash: str, image_size: int, precision: str, opset: int) -> str:
    text = f"{kind}|{fmt}|{source_hash}|{image_size}|{precision}|{opset}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def artifact_path(cache: Path, kind: Kind, fmt: Fmt, key: str) -> Path:
    return cache / f"{kind}-{key}.{fmt}"


def runtime_versions() -> dict[str, str | None]:
    """Versions of what built (or runs) an artifact; None where not installed."""
    out: dict[str, str | None] = {"python": platform.python_version(), "edge_detsam2": __version__}
    for mod in ("torch", "onnx", "onnxruntime", "tensorrt", "ultralytics"):
        try:
            out[mod] = str(__import__(mod).__version__)
        except Exception:  # not installed, or broken: recorded as absent
            out[mod] = None
    try:
        import torch

        out["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
        out["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:
        out["cuda"] = out["gpu"] = None
    return out


@dataclass
class ArtifactMeta:
    """The JSON sidecar beside every artifact."""

    kind: str
    format: str
    key: str
    source_hash: str  # SAM2: model fingerprint (weights); YOLO: sha256 of the weights file
    source: str  # config name and overrides, or the weights path
    image_size: int
    precision: str  # fp32 | fp16
    opset: int
    sha256: str  # of the artifact file
    inputs: dict[str, list[int]] = field(default_factory=dict)
    outputs: dict[str, list[int]] = field(default_factory=dict)
    versions: dict[str, str | None] = field(default_factory=runtime_versions)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    parity: dict[str, Any] = field(default_factory=dict)
    schema: str = FORMAT

    def save(self, artifact: Path) -> Path:
        side = artifact.with_suffix(artifact.suffix + ".json")
        side.write_text(json.dumps(asdict(self), indent=1) + "\n")
        return side


def load_verified(
    artifact: Path,
    *,
    kind: Kind,
    source_hash: str,
    image_size: int,
    rebuild: str,
    check_sha: bool = True,
) -> ArtifactMeta:
    """The sidecar of ``artifact`` if it matches what the running config expects; else ArtifactError."""
    side = artifact.with_suffix(artifact.suffix + ".json")
    if not artifact.is_file() or not side.is_file():
        raise ArtifactError(f"no exported {kind} at {artifact} for this model and config; build it with: {rebuild}")
    try:
        raw = json.loads(side.read_text())
        if raw.get("schema") != FORMAT:
            raise ValueError(f"schema {raw.get('schema')!r}")
        meta = ArtifactMeta(**raw)
    except (ValueError, TypeError) as exc:
        raise ArtifactError(f"{side}: unreadable artifact metadata ({exc}); rebuild with: {rebuild}") from None
    problems = []
    if meta.kind != kind:
        problems.append(f"kind {meta.kind} != {kind}")
    if meta.source_hash != source_hash:
        problems.append("built from other weights")
    if meta.image_size != image_size:
        problems.append(f"image size {meta.image_size} != {image_size}")
    if check_sha and file_sha256(artifact) != meta.sha256:
        problems.append("file changed or corrupt (sha256 mismatch)")
    if meta.format == "engine":
        now = runtime_versions()
        for k in ("tensorrt", "gpu"):
            if meta.versions.get(k) != now.get(k):
                problems.append(f"built for {k} {meta.versions.get(k)}, running {now.get(k)}")
    if problems:
        raise ArtifactError(f"{artifact} does not match this config: {'; '.join(problems)}; rebuild with: {rebuild}")
    return meta


REBUILD = "edge-detsam2 export --config <this config>"


def precision(half: bool) -> str:
    return "fp16" if half else "fp32"


def sam2_encoder_path(cache: Path, fmt: Fmt, model_hash: str, image_size: int, half: bool, opset: int) -> Path:
    key = artifact_key("sam2_image_encoder", fmt, model_hash, image_size, precision(half), opset)
    return artifact_path(cache, "sam2_image_encoder", fmt, key)


def yolo_path(cache: Path, fmt: Fmt, weights_hash: str, imgsz: int, half: bool, opset: int) -> Path:
    key = artifact_key("yolo", fmt, weights_hash, imgsz, precision(half), opset)
    return artifact_path(cache, "yolo", fmt, key)


PARTS_SCHEMA = "edge-detsam2-sam2-parts/1"


def sam2_source_hash(config: str, overrides: tuple[str, ...] | list[str], checkpoint: Path) -> str:
    """What a SAM2 parts set is built from, computable without torch: config, overrides, checkpoint bytes."""
    if not checkpoint.is_file():
        raise ArtifactError(f"perception.sam2.checkpoint: {checkpoint} does not exist")
    text = json.dumps({"config": config, "overrides": list(overrides), "checkpoint": file_sha256(checkpoint)})
    return hashlib.sha256(text.encode()).hexdigest()


def sam2_parts_dir(cache: Path, source_hash: str, opset: int) -> Path:
    """The directory of the SAM2 parts set (every per-frame part as fp32 ONNX) for one checkpoint.

    fp16 is a TensorRT build option (``export.half``): engines live in the set's ``trt-cache``.
    """
    key = hashlib.sha256(f"sam2_parts|onnx|{source_hash}|{opset}".encode()).hexdigest()[:16]
    return cache / f"sam2_parts-{key}"


def load_parts_verified(parts_dir: Path, *, source_hash: str, rebuild: str) -> dict[str, Any]:
    """The ``parts.json`` of a parts set if it was built from this source and no file changed."""
    side = parts_dir / "parts.json"
    if not side.is_file():
        raise ArtifactError(
            f"no exported SAM2 parts at {parts_dir} for this checkpoint and config; build them with: {rebuild}"
        )
    try:
        meta = json.loads(side.read_text())
        if meta.get("schema") != PARTS_SCHEMA:
            raise ValueError(f"schema {meta.get('schema')!r}")
        files = dict(meta["files"])
    except (ValueError, TypeError, KeyError) as exc:
        raise ArtifactError(f"{side}: unreadable parts metadata ({exc}); rebuild with: {rebuild}") from None
    problems = []
    if meta.get("source_hash") != source_hash:
        problems.append("built from another checkpoint or config")
    for name, sha in files.items():
        path = parts_dir / f"{name}.onnx"
        if not path.is_file():
            problems.append(f"{path.name} missing")
        elif file_sha256(path) != sha:
            problems.append(f"{path.name} changed or corrupt (sha256 mismatch)")
    consts = parts_dir / "constants.npz"
    if not consts.is_file() or file_sha256(consts) != meta.get("constants_sha256"):
        problems.append("constants.npz missing or changed")
    if problems:
        raise ArtifactError(f"{parts_dir} does not match this config: {'; '.join(problems)}; rebuild with: {rebuild}")
    return dict(meta)
