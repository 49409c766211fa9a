"""SAM2 image-encoder backends: torch, ONNX Runtime, TensorRT.

Each returns what ``SAM2Base.forward_image`` returns and the session consumes:
``backbone_fpn`` (three levels, the two high-resolution ones already through the mask
decoder's ``conv_s0``/``conv_s1``) and ``vision_pos_enc``. Positional encodings depend only on
the image size, so exported encoders load them once from the artifact's sidecar tensors
instead of computing them per frame.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge_detsam2.artifacts import ArtifactError
from edge_detsam2.onnxrt import session_options

logger = logging.getLogger(__name__)

OUTPUT_NAMES = ("fpn0", "fpn1", "fpn2")


class ImageEncoder(Protocol):
    name: str

    def __call__(self, image: Any) -> dict[str, Any]: ...


def encoder_module(model: Any) -> Any:
    """The exported graph: trunk + neck + the decoder's high-res projections, three outputs."""
    import torch

    class _Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.image_encoder = model.image_encoder
            self.high_res = bool(model.use_high_res_features_in_sam)
            self.conv_s0 = model.sam_mask_decoder.conv_s0 if self.high_res else None
            self.conv_s1 = model.sam_mask_decoder.conv_s1 if self.high_res else None

        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            fpn = self.image_encoder(image)["backbone_fpn"]
            f0, f1, f2 = fpn[0], fpn[1], fpn[2]
            if self.conv_s0 is not None and self.conv_s1 is not None:
                f0, f1 = self.conv_s0(f0), self.conv_s1(f1)
            return f0, f1, f2

    return _Encoder().eval()


def positional_encodings(model: Any) -> list[Any]:
    """The three ``vision_pos_enc`` tensors at the model's image size (constants)."""
    import torch

    size = int(model.image_size)
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model.image_encoder(torch.zeros(1, 3, size, size, device=device))
    return [p.clone() for p in out["vision_pos_enc"]]


def pos_path(artifact: Path) -> Path:
    return artifact.with_suffix(artifact.suffix + ".pos.safetensors")


def save_positional(artifact: Path, pos: list[Any]) -> Path:
    from safetensors.torch import save_file

    path = pos_path(artifact)
    save_file({f"pos{i}": p.contiguous().cpu() for i, p in enumerate(pos)}, str(path))
    return path


def load_positional(artifact: Path, device: Any) -> list[Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = pos_path(artifact)
    try:
        data = load_file(str(path))
        return [data[f"pos{i}"].to(device) for i in range(3)]
    except (OSError, KeyError, SafetensorError) as exc:
        raise ArtifactError(f"{path}: positional encodings missing or unreadable ({exc}); re-run export") from None


class TorchEncoder:
    name = "torch"

    def __init__(self, model: Any) -> None:
        self.model = model

    def __call__(self, image: Any) -> dict[str, Any]:
        return dict(self.model.forward_image(image))


class OnnxEncoder:
    """ONNX Runtime; ``provider`` cpu or cuda, and we check that it is the one that runs."""

    name = "onnxruntime"

    def __init__(self, artifact: Path, device: Any, provider: str = "cpu", threads: int = 0) -> None:
        import onnxruntime as ort

        wanted = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}[provider]
        if wanted not in ort.get_available_providers():
            raise ArtifactError(
                f"ONNX Runtime has no {wanted} here (available: {ort.get_available_providers()}); "
                "install onnxruntime-gpu or set perception.device: cpu"
            )
        opts = session_options(threads)
        try:
            self.session = ort.InferenceSession(str(artifact), sess_options=opts, providers=[wanted])
        except Exception as exc:  # onnxruntime raises its own exception types for bad files
            raise ArtifactError(f"{artifact}: ONNX Runtime cannot load it ({exc}); re-run export") from None
        active = self.session.get_providers()
        if active[0] != wanted:
            raise ArtifactError(f"ONNX Runtime runs {active[0]}, not {wanted}; check the onnxruntime install")
        self.provider = active[0]
        self.device = device
        self.pos = load_positional(artifact, device)
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, image: Any) -> dict[str, Any]:
        import torch

        outs = self.session.run(list(OUTPUT_NAMES), {self.input_name: image.detach().cpu().numpy()})
        fpn = [torch.from_numpy(np.asarray(o)).to(self.device) for o in outs]
        return {"backbone_fpn": fpn, "vision_pos_enc": self.pos, "vision_features": fpn[-1]}


class TensorRTEncoder:
    """A serialized TensorRT engine run on the current CUDA stream (inputs/outputs as torch tensors)."""

    name = "tensorrt"

    def __init__(self, artifact: Path, device: Any) -> None:
        import torch

        try:
            import tensorrt as trt
        except ImportError:
            raise ArtifactError(
                "perception.sam2.encoder: tensorrt needs the TensorRT Python package on this device"
            ) from None
        if not torch.cuda.is_available():
            raise ArtifactError("perception.sam2.encoder: tensorrt needs an NVIDIA GPU; none is visible")
        self.device = torch.device(device)
        logger_ = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger_)
        engine = runtime.deserialize_cuda_engine(artifact.read_bytes())
        if engine is None:
            raise ArtifactError(f"{artifact}: TensorRT cannot deserialize it (other TensorRT version or GPU?)")
        self.engine, self.context = engine, engine.create_execution_context()
        self.outputs: dict[str, Any] = {}
        self.input_name = ""
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            shape = tuple(engine.get_tensor_shape(name))
            dtype = torch.float16 if engine.get_tensor_dtype(name) == trt.DataType.HALF else torch.float32
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                self.input_name, self.input_dtype = name, dtype
            else:
                self.outputs[name] = torch.empty(shape, dtype=dtype, device=self.device)
                self.context.set_tensor_address(name, self.outputs[name].data_ptr())
        self.pos = load_positional(artifact, self.device)

    def __call__(self, image: Any) -> dict[str, Any]:
        import torch

        x = image.to(self.device, self.input_dtype).contiguous()
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        fpn = [self.outputs[n].float() for n in OUTPUT_NAMES]
        return {"backbone_fpn": fpn, "vision_pos_enc": self.pos, "vision_features": fpn[-1]}
