"""SAM2's per-frame work as separate exportable graphs, with the exact savings of streaming.

``SAM2Base.track_step`` interleaves Python bookkeeping (which memories to read) with five
networks. Here the networks are torch modules with tensor-only inputs, so each exports to
ONNX (and from there to TensorRT) and runs without torch; ``tracker.engine`` does the
bookkeeping in numpy. Objects are the batch axis of every part.

Parts (names are the ONNX file stems):

- ``image_encoder``: image -> fpn0, fpn1, fpn2 (``tracker.encoders``; batch 1).
- ``memory_attention``: fpn2 (batch 1) + each object's memory -> memory-conditioned features.
  Variable memory (frames x HW spatial tokens, 4 tokens per object pointer) are dynamic axes:
  the number of stored frames and pointers grows over the first frames of a track and with
  prompts, and a fixed maximum with masks would pay for the padding on every frame.
- ``decoder_track`` / ``decoder_box``: prompt encoder + mask decoder (``_forward_sam_heads``)
  for tracked objects (multimask, no prompt) and box-prompted objects; out: low- and
  high-resolution mask logits, object pointer (through ``obj_ptr_proj``), object score.
- ``mask_prompt``: a mask prompt taken as the output (``_use_mask_as_output``), with the
  object pointer from the decoder.
- ``memory_encoder``: fpn2 (batch 1) + high-resolution masks -> the memory features to store.
- ``ptr_tpos``: the temporal encoding of object pointers (sine + ``obj_ptr_tpos_proj``).

Exact savings over ``track_step`` (same arithmetic up to float rounding, checked by parity):
the first memory-attention layer's self-attention and its cross-attention queries depend
only on the image, so they run once per frame, not once per object; cross-attention values
are ``v_proj`` of 64-channel memory tokens, so attention weights multiply the 64-channel
tokens and ``v_proj`` is applied after (the weights of each row sum to one), a quarter of
the work; the memory encoder's image projection runs once per frame for all objects.
"""

from __future__ import annotations

from typing import Any

from edge_detsam2.tracker.model import TrackerError

PART_NAMES = (
    "image_encoder",
    "memory_attention",
    "decoder_track",
    "decoder_box",
    "mask_prompt",
    "memory_encoder",
    "ptr_tpos",
)

#: Model flags whose values the numpy engine assumes (SAM2.1's video configs).
REQUIRED_FLAGS = {
    "directly_add_no_mem_embed": True,
    "use_obj_ptrs_in_encoder": True,
    "add_tpos_enc_to_obj_ptrs": True,
    "proj_tpos_enc_in_obj_ptrs": True,
    "use_signed_tpos_enc_to_obj_ptrs": True,
    "only_obj_ptrs_in_the_past_for_eval": True,
    "use_mask_input_as_output_without_sam": True,
    "non_overlap_masks_for_mem_enc": False,
    "pred_obj_scores": True,
    "fixed_no_obj_ptr": True,
    "soft_no_obj_ptr": False,
    "use_high_res_features_in_sam": True,
}


def check_supported(model: Any) -> None:
    """The exported parts reproduce SAM2.1-style models; refuse other flag combinations clearly."""
    bad = [f"{k}={getattr(model, k, None)}" for k, v in REQUIRED_FLAGS.items() if getattr(model, k, None) != v]
    if model.no_obj_embed_spatial is None:
        bad.append("no_obj_embed_spatial=None")
    if int(model.mem_dim) >= int(model.hidden_dim) or int(model.hidden_dim) % int(model.mem_dim):
        bad.append(f"mem_dim={model.mem_dim} (must divide hidden_dim {model.hidden_dim})")
    if not model.memory_attention.batch_first:
        bad.append("memory_attention.batch_first=False")
    if bad:
        raise TrackerError("the exported SAM2 runtime supports SAM2.1 video configs; this model has " + ", ".join(bad))


def rope(x: Any, cos: Any, sin: Any) -> Any:
    """SAM2's axial rotary encoding (``apply_rotary_enc``) in real arithmetic, exportable.

    ``x``: (..., N, d) with channel pairs (2i, 2i+1) as complex numbers; ``cos``/``sin``: (N, d/2).
    """
    import torch

    x2 = x.reshape(*x.shape[:-1], -1, 2)
    a, b = x2[..., 0], x2[..., 1]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)


def _cis(attn: Any, h: int, w: int) -> tuple[Any, Any]:
    cis = attn.compute_cis(end_x=w, end_y=h)
    return cis.real.float().contiguous(), cis.imag.float().contiguous()


def _heads(x: Any, n: int) -> Any:
    b, t, c = x.shape
    return x.reshape(b, t, n, c // n).transpose(1, 2)


def _merge(x: Any) -> Any:
    b, n, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, n * d)


def feature_size(model: Any) -> int:
    return int(model.image_size) // 16


def _module_base() -> Any:
    import torch

    return torch.nn.Module


class MemoryAttentionPart(_module_base()):  # type: ignore[misc]
    """``memory_attention`` for B objects over one image.

    Inputs: ``feat`` (1, C, h, w) the image's fpn2; ``memory``/``memory_pos`` (B, F*h*w, 64)
    spatial memories of F stored frames and their encodings (spatial + temporal);
    ``ptr``/``ptr_pos`` (B, 4P, 64) object-pointer tokens. Output: (B, C, h, w).
    """

    def __init__(self, model: Any) -> None:
        import torch

        from edge_detsam2.tracker.encoders import positional_encodings

        super().__init__()
        ma = model.memory_attention
        self.layers = ma.layers
        self.norm = ma.norm
        self.pos_at_input = bool(ma.pos_enc_at_input)
        self.h = self.w = feature_size(model)
        self.hidden = int(model.hidden_dim)
        pos = positional_encodings(model)[-1]
        self.register_buffer("curr_pos", pos.flatten(2).transpose(1, 2).contiguous())
        cos_s, sin_s, cos_c, sin_c = [], [], [], []
        for layer in self.layers:
            c, s = _cis(layer.self_attn, self.h, self.w)
            cos_s.append(c)
            sin_s.append(s)
            c, s = _cis(layer.cross_attn_image, self.h, self.w)
            cos_c.append(c)
            sin_c.append(s)
        self.register_buffer("cos_self", torch.stack(cos_s))
        self.register_buffer("sin_self", torch.stack(sin_s))
        self.register_buffer("cos_cross", torch.stack(cos_c))
        self.register_buffer("sin_cross", torch.stack(sin_c))

    def _self_attn(self, i: int, layer: Any, x: Any) -> Any:
        import torch.nn.functional as F

        attn = layer.self_attn
        t2 = layer.norm1(x)
        qk = t2 + self.curr_pos if layer.pos_enc_at_attn else t2
        q = rope(_heads(attn.q_proj(qk), attn.num_heads), self.cos_self[i], self.sin_self[i])
        k = rope(_heads(attn.k_proj(qk), attn.num_heads), self.cos_self[i], self.sin_self[i])
        v = _heads(attn.v_proj(t2), attn.num_heads)
        return x + attn.out_proj(_merge(F.scaled_dot_product_attention(q, k, v)))

    def _cross_attn(self, i: int, layer: Any, x: Any, mem: Any, mem_pos: Any, n_spatial: Any) -> Any:
        import torch
        import torch.nn.functional as F

        attn = layer.cross_attn_image
        nh = attn.num_heads
        b = mem.shape[0]
        t2 = layer.norm2(x)
        q = attn.q_proj(t2 + self.curr_pos if layer.pos_enc_at_cross_attn_queries else t2)
        q = rope(_heads(q, nh), self.cos_cross[i], self.sin_cross[i])
        k = _heads(attn.k_proj(mem + mem_pos if layer.pos_enc_at_cross_attn_keys else mem), nh)
        # spatial keys: the same h*w positions in every stored frame (rope_k_repeat); pointers: no rope
        ks, kp = k[:, :, :n_spatial], k[:, :, n_spatial:]
        d = ks.shape[-1]
        ks = rope(ks.reshape(b, nh, -1, self.h * self.w, d), self.cos_cross[i], self.sin_cross[i])
        k = torch.cat((ks.reshape(b, nh, -1, d), kp), dim=2)
        # values are v_proj of the 64-channel tokens: weight the tokens, then project (rows sum to 1)
        ax = F.scaled_dot_product_attention(q.expand(b, -1, -1, -1), k, mem.unsqueeze(1).expand(-1, nh, -1, -1))
        wv = attn.v_proj.weight.reshape(nh, d, -1)  # (heads, d, 64)
        bv = attn.v_proj.bias.reshape(1, nh, 1, d)
        out = torch.matmul(ax, wv.transpose(1, 2)) + bv
        return x + attn.out_proj(_merge(out))

    def forward(self, feat: Any, memory: Any, memory_pos: Any, ptr: Any, ptr_pos: Any) -> Any:
        import torch

        x = feat.flatten(2).transpose(1, 2)  # (1, HW, C): shared by every object until the first cross-attention
        if self.pos_at_input:
            x = x + 0.1 * self.curr_pos
        mem = torch.cat((memory, ptr), dim=1)
        mem_pos = torch.cat((memory_pos, ptr_pos), dim=1)
        n_spatial = memory.shape[1]
        for i, layer in enumerate(self.layers):
            x = self._self_attn(i, layer, x)
            x = self._cross_attn(i, layer, x, mem, mem_pos, n_spatial)
            x = x + layer.linear2(layer.activation(layer.linear1(layer.norm3(x))))
        out = self.norm(x)
        return out.transpose(1, 2).reshape(mem.shape[0], self.hidden, self.h, self.w)


class DecoderPart(_module_base()):  # type: ignore[misc]
    """``_forward_sam_heads`` for tracked objects (``box=False``) or box-prompted ones (``box=True``).

    Tracked: ``pix_feat`` (B, C, h, w) from memory attention. Box: ``pix_feat`` is the image's
    fpn2 (1, C, h, w); SAM2 adds ``no_mem_embed`` on a prompted frame, which this graph does,
    and ``point_coords`` (B, 2, 2) / ``point_labels`` (B, 2) are the box corners (labels 2, 3).
    Outputs: low_res (B, 1, S/4, S/4), high_res (B, 1, S, S), obj_ptr (B, C), score (B, 1).
    """

    def __init__(self, model: Any, *, box: bool) -> None:
        import torch

        super().__init__()
        self.model = model
        self.box = box
        dummy = {"point_coords": torch.zeros(1, 2, 2), "point_labels": torch.zeros(1, 2, dtype=torch.int32)}
        self.multimask = bool(model._use_multimask(box, dummy if box else None))

    def forward(self, pix_feat: Any, fpn0: Any, fpn1: Any, point_coords: Any = None, point_labels: Any = None) -> Any:
        points = None
        if self.box:
            b = point_coords.shape[0]
            pix_feat = (pix_feat + self.model.no_mem_embed.reshape(1, -1, 1, 1)).expand(b, -1, -1, -1)
            points = {"point_coords": point_coords, "point_labels": point_labels}
        out = self.model._forward_sam_heads(
            backbone_features=pix_feat,
            point_inputs=points,
            mask_inputs=None,
            high_res_features=[fpn0, fpn1],
            multimask_output=self.multimask,
        )
        _, _, _, low_res, high_res, obj_ptr, score = out
        return low_res, high_res, obj_ptr, score


def _antialias_matrix(size: int) -> Any:
    """(size/4, size): F.interpolate(bilinear, antialias=True) from size to size/4 along one axis."""
    import torch
    import torch.nn.functional as F

    eye = torch.eye(size).reshape(size, 1, 1, size)
    out = F.interpolate(eye, size=(1, size // 4), mode="bilinear", align_corners=False, antialias=True)
    return out.reshape(size, size // 4).t().contiguous()


class MaskPromptPart(_module_base()):  # type: ignore[misc]
    """``_use_mask_as_output``: a (B, 1, S, S) 0/1 mask prompt becomes the output logits (±10).

    The antialiased downscale is two matrix products with the interpolation's own weights.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("down", _antialias_matrix(int(model.image_size)))

    def forward(self, feat: Any, fpn0: Any, fpn1: Any, mask: Any) -> Any:
        import torch

        m = self.model
        b = mask.shape[0]
        high_res = mask * 20.0 - 10.0
        low_res = torch.matmul(torch.matmul(self.down, high_res), self.down.t())
        out = m._forward_sam_heads(
            backbone_features=feat.expand(b, -1, -1, -1),
            mask_inputs=m.mask_downsample(mask),
            high_res_features=[fpn0, fpn1],
        )
        obj_ptr = out[5]
        appearing = (mask.flatten(1) > 0.0).any(dim=1, keepdim=True).float()
        score = 20.0 * appearing - 10.0
        obj_ptr = appearing * obj_ptr + (1 - appearing) * m.no_obj_ptr
        return low_res, high_res, obj_ptr, score


class MemoryEncoderPart(_module_base()):  # type: ignore[misc]
    """``_encode_new_memory`` for B objects: the image projection runs once (batch 1).

    ``from_points`` (B,) is 1 where the mask came from a box prompt (binarized, as SAM2 does).
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, feat: Any, high_res: Any, score: Any, from_points: Any) -> Any:
        import torch

        m = self.model
        enc = m.memory_encoder
        binar = (high_res > 0).float() if m.binarize_mask_from_pts_for_mem_enc else torch.sigmoid(high_res)
        mask = torch.where(from_points.reshape(-1, 1, 1, 1) > 0.5, binar, torch.sigmoid(high_res))
        if m.sigmoid_scale_for_mem_enc != 1.0:
            mask = mask * m.sigmoid_scale_for_mem_enc
        if m.sigmoid_bias_for_mem_enc != 0.0:
            mask = mask + m.sigmoid_bias_for_mem_enc
        x = enc.pix_feat_proj(feat) + enc.mask_downsampler(mask)
        x = enc.out_proj(enc.fuser(x))
        absent = 1.0 - (score > 0).float()
        return x + absent[..., None, None] * m.no_obj_embed_spatial[..., None, None]


class PtrTposPart(_module_base()):  # type: ignore[misc]
    """Temporal encoding of object pointers: ``obj_ptr_tpos_proj(get_1d_sine_pe(t / t_max))``."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model
        self.t_max = float(int(model.max_obj_ptrs_in_encoder) - 1)
        self.dim = int(model.hidden_dim)

    def forward(self, t_diff: Any) -> Any:
        from sam2.modeling.sam2_utils import get_1d_sine_pe

        return self.model.obj_ptr_tpos_proj(get_1d_sine_pe(t_diff / self.t_max, dim=self.dim))


def constants(model: Any) -> dict[str, Any]:
    """The numpy engine's constants (float32 numpy arrays), stored beside the parts."""
    import numpy as np
    import torch

    with torch.inference_mode():
        dummy = torch.zeros(1, int(model.hidden_dim), feature_size(model), feature_size(model))
        pos = model.memory_encoder.position_encoding(dummy.new_zeros(1, int(model.mem_dim), *dummy.shape[2:]))
    return {
        "maskmem_pos_enc": np.ascontiguousarray(pos.float().numpy()),  # (1, 64, h, w)
        "maskmem_tpos_enc": np.ascontiguousarray(
            model.maskmem_tpos_enc.detach().float().reshape(-1, model.mem_dim).numpy()
        ),
    }


def hyperparams(model: Any) -> dict[str, Any]:
    """What the numpy engine needs to know about the model (stored in the parts sidecar)."""
    return {
        "image_size": int(model.image_size),
        "feat_size": feature_size(model),
        "hidden_dim": int(model.hidden_dim),
        "mem_dim": int(model.mem_dim),
        "num_maskmem": int(model.num_maskmem),
        "max_obj_ptrs_in_encoder": int(model.max_obj_ptrs_in_encoder),
        "memory_temporal_stride_for_eval": int(model.memory_temporal_stride_for_eval),
    }


def build_parts(model: Any) -> dict[str, Any]:
    """The torch modules of every part (eval mode), keyed by part name."""
    from edge_detsam2.tracker.encoders import encoder_module

    check_supported(model)
    parts = {
        "image_encoder": encoder_module(model),
        "memory_attention": MemoryAttentionPart(model),
        "decoder_track": DecoderPart(model, box=False),
        "decoder_box": DecoderPart(model, box=True),
        "mask_prompt": MaskPromptPart(model),
        "memory_encoder": MemoryEncoderPart(model),
        "ptr_tpos": PtrTposPart(model),
    }
    return {k: v.eval() for k, v in parts.items()}


def example_inputs(
    model: Any, batch: int = 2, frames: int = 2, ptrs: int = 3, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Random inputs of every part (for export tracing and parity)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    s, h, c, m = int(model.image_size), feature_size(model), int(model.hidden_dim), int(model.mem_dim)

    def rnd(*shape: int) -> Any:
        return torch.randn(*shape, generator=g)

    fpn0, fpn1, fpn2 = rnd(1, c // 8, 4 * h, 4 * h), rnd(1, c // 4, 2 * h, 2 * h), rnd(1, c, h, h)
    box = torch.tensor([[0.3, 0.3, 0.45, 0.5]] * batch) * s + torch.rand(batch, 4, generator=g) * 8
    mask = torch.zeros(batch, 1, s, s)
    for i in range(batch):
        y, x = 20 + 7 * i, 30 + 5 * i
        mask[i, 0, y : y + 12, x : x + 12] = 1.0
    return {
        "image_encoder": {"image": rnd(1, 3, s, s)},
        "memory_attention": {
            "feat": fpn2,
            "memory": rnd(batch, frames * h * h, m),
            "memory_pos": rnd(batch, frames * h * h, m),
            "ptr": rnd(batch, ptrs * (c // m), m),
            "ptr_pos": rnd(batch, ptrs * (c // m), m),
        },
        "decoder_track": {"pix_feat": rnd(batch, c, h, h), "fpn0": fpn0, "fpn1": fpn1},
        "decoder_box": {
            "pix_feat": fpn2,
            "fpn0": fpn0,
            "fpn1": fpn1,
            "point_coords": box.reshape(batch, 2, 2),
            "point_labels": torch.tensor([[2, 3]] * batch, dtype=torch.int32),
        },
        "mask_prompt": {"feat": fpn2, "fpn0": fpn0, "fpn1": fpn1, "mask": mask},
        "memory_encoder": {
            "feat": fpn2,
            "high_res": rnd(batch, 1, s, s) * 8,
            "score": rnd(batch, 1),
            "from_points": (torch.arange(batch) % 2).float(),
        },
        "ptr_tpos": {"t_diff": torch.tensor([1.0, 2.0, 30.0][: max(1, ptrs)])},
    }


OUTPUTS = {
    "image_encoder": ("fpn0", "fpn1", "fpn2"),
    "memory_attention": ("pix_feat",),
    "decoder_track": ("low_res", "high_res", "obj_ptr", "score"),
    "decoder_box": ("low_res", "high_res", "obj_ptr", "score"),
    "mask_prompt": ("low_res", "high_res", "obj_ptr", "score"),
    "memory_encoder": ("maskmem",),
    "ptr_tpos": ("ptr_pos",),
}

#: Dynamic axes per part (objects are the batch axis; memory tokens and pointers vary).
DYNAMIC = {
    "image_encoder": {},
    "memory_attention": {
        "memory": {0: "objects", 1: "memory_tokens"},
        "memory_pos": {0: "objects", 1: "memory_tokens"},
        "ptr": {0: "objects", 1: "pointer_tokens"},
        "ptr_pos": {0: "objects", 1: "pointer_tokens"},
        "pix_feat": {0: "objects"},
    },
    "decoder_track": {"pix_feat": {0: "objects"}, **{k: {0: "objects"} for k in OUTPUTS["decoder_track"]}},
    "decoder_box": {
        "point_coords": {0: "objects"},
        "point_labels": {0: "objects"},
        **{k: {0: "objects"} for k in OUTPUTS["decoder_box"]},
    },
    "mask_prompt": {"mask": {0: "objects"}, **{k: {0: "objects"} for k in OUTPUTS["mask_prompt"]}},
    "memory_encoder": {
        "high_res": {0: "objects"},
        "score": {0: "objects"},
        "from_points": {0: "objects"},
        "maskmem": {0: "objects"},
    },
    "ptr_tpos": {"t_diff": {0: "pointers"}, "ptr_pos": {0: "pointers"}},
}


def run_torch(part: Any, inputs: dict[str, Any]) -> tuple[Any, ...]:
    import torch

    with torch.inference_mode():
        out = part(**inputs)
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)
