"""Part runners for ``tracker.engine.PartsSession``: torch modules, ONNX Runtime, TensorRT.

``OnnxPartRunner`` needs only numpy and onnxruntime: it reads an exported parts set (a
directory of ONNX files, ``constants.npz`` and the ``parts.json`` sidecar). With the
``tensorrt`` provider, ONNX Runtime's TensorRT execution provider builds an engine per part
on first use and keeps it in the set's ``trt-cache`` directory (CUDA for anything TensorRT
cannot run). ``TorchPartRunner`` runs the same parts as torch modules (parity checks, the
benchmark's baseline of the parts themselves).
"""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.artifacts import ArtifactError
from edge_detsam2.onnxrt import session_options

logger = logging.getLogger(__name__)

SIDECAR = "parts.json"
CONSTANTS = "constants.npz"

#: runtime -> ONNX Runtime execution providers, in order of preference
PROVIDERS = {
    "cpu": ["CPUExecutionProvider"],
    "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "tensorrt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def load_constants(path: Path) -> dict[str, NDArray[np.float32]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {k: np.asarray(data[k], dtype=np.float32) for k in data.files}
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"{path}: unreadable constants ({exc}); re-run export") from None


class OnnxPartRunner:
    """Every SAM2 part through ONNX Runtime (``provider``: cpu, cuda or tensorrt)."""

    def __init__(self, parts_dir: Path, *, provider: str = "cpu", threads: int = 0, half: bool = False) -> None:
        import onnxruntime as ort

        self.name = f"onnxruntime-{provider}"
        side = parts_dir / SIDECAR
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"{side}: unreadable parts metadata ({exc}); re-run export") from None
        self.meta = meta
        self.hyperparams: dict[str, Any] = meta["hyperparams"]
        self.constants = load_constants(parts_dir / CONSTANTS)
        wanted = PROVIDERS[provider]
        available = ort.get_available_providers()
        if wanted[0] not in available:
            raise ArtifactError(
                f"ONNX Runtime has no {wanted[0]} here (available: {available}); "
                "install edge-detsam2[gpu] (onnxruntime-gpu) or set perception.device: cpu"
            )
        providers: list[Any] = [p for p in wanted if p in available]
        if provider == "tensorrt":
            cache = parts_dir / "trt-cache"
            cache.mkdir(exist_ok=True)
            trt_opts = {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache), "trt_fp16_enable": half}
            providers[0] = ("TensorrtExecutionProvider", trt_opts)
        opts = session_options(threads)
        opts.log_severity_level = 3  # errors only: ORT warns about a benign shape merge in the Hiera graph
        self.sessions: dict[str, Any] = {}
        self.outputs: dict[str, list[str]] = {}
        self.inputs: dict[str, set[str]] = {}
        for part in meta["parts"]:
            path = parts_dir / f"{part}.onnx"
            try:
                sess = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
            except Exception as exc:  # onnxruntime raises its own exception types for bad files
                raise ArtifactError(f"{path}: ONNX Runtime cannot load it ({exc}); re-run export") from None
            active = sess.get_providers()[0]
            if active != wanted[0]:
                raise ArtifactError(
                    f"{path}: ONNX Runtime runs {active}, not {wanted[0]}; check the onnxruntime install"
                )
            self.sessions[part] = sess
            self.outputs[part] = [o.name for o in sess.get_outputs()]
            # the exporter drops inputs a graph does not read (e.g. mask_prompt needs no fpn0/fpn1)
            self.inputs[part] = {i.name for i in sess.get_inputs()}
        self.provider = wanted[0]
        self.part_ms: dict[str, float] = defaultdict(float)

    def __call__(self, part: str, **inputs: NDArray[Any]) -> tuple[NDArray[np.float32], ...]:
        t0 = time.perf_counter()
        feed = {k: v for k, v in inputs.items() if k in self.inputs[part]}
        out = self.sessions[part].run(self.outputs[part], feed)
        self.part_ms[part] += (time.perf_counter() - t0) * 1e3
        return tuple(np.asarray(o) for o in out)


class TorchPartRunner:
    """The parts as torch modules (``tracker.parts``), on numpy in and out."""

    name = "torch-parts"

    def __init__(self, model: Any) -> None:
        from edge_detsam2.tracker import parts

        self.parts = parts.build_parts(model)
        self.hyperparams = parts.hyperparams(model)
        self.constants = parts.constants(model)
        self.device = next(model.parameters()).device
        self.part_ms: dict[str, float] = defaultdict(float)

    def __call__(self, part: str, **inputs: NDArray[Any]) -> tuple[NDArray[np.float32], ...]:
        import torch

        from edge_detsam2.tracker.parts import run_torch

        t0 = time.perf_counter()
        tensors = {k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device) for k, v in inputs.items()}
        out = tuple(o.float().cpu().numpy() for o in run_torch(self.parts[part], tensors))
        self.part_ms[part] += (time.perf_counter() - t0) * 1e3
        return out
