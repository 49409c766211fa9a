"""TensorRT engine from an ONNX file with the tensorrt Python API (GPU machines only).

fp16 builds keep normalisation and softmax layers in fp32 (the usual cause of SAM2 fp16
parity loss, reference/sam2-deployment.md section 2); the timing cache is kept beside the
cache directory so rebuilds are fast.
"""

from __future__ import annotations

import logging
from pathlib import Path

from edge_detsam2.artifacts import ArtifactError

logger = logging.getLogger(__name__)


def require_tensorrt() -> None:
    """Fail clearly where engines cannot be built: no tensorrt package or no NVIDIA GPU."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        raise ArtifactError(
            "--format engine needs TensorRT (pip install tensorrt on the device, or JetPack's python3-libnvinfer) "
            "and an NVIDIA GPU; tensorrt is not installed here. --format onnx works on any machine."
        ) from None
    import torch

    if not torch.cuda.is_available():
        raise ArtifactError("--format engine needs an NVIDIA GPU and none is visible; --format onnx works here.")


def build_engine(onnx_path: Path, engine_path: Path, *, half: bool, workspace_gb: float, timing_cache: Path) -> None:
    import tensorrt as trt

    log = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(log)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, log)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ArtifactError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    if half:
        config.set_flag(trt.BuilderFlag.FP16)
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        kept = 0
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            if layer.type in (trt.LayerType.NORMALIZATION, trt.LayerType.SOFTMAX) or "norm" in layer.name.lower():
                layer.precision = trt.float32
                for j in range(layer.num_outputs):
                    layer.set_output_type(j, trt.float32)
                kept += 1
        logger.info("fp16 engine: %d normalisation/softmax layers kept in fp32", kept)
    cache = config.create_timing_cache(timing_cache.read_bytes() if timing_cache.is_file() else b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ArtifactError(f"TensorRT failed to build an engine from {onnx_path} (see the log above)")
    engine_path.write_bytes(bytes(serialized))
    timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
