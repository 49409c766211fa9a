"""Every per-frame SAM2 part exported to ONNX, and the torch-free session that runs them.

A small random SAM2.1 model (its object-score head biased so every object is 'present' and
masks are real logits, not SAM2's -1024 filler) is exported part by part; ONNX Runtime must
reproduce each part and, over 60 frames with 6 objects prompted by boxes and by masks, the
tracked masks of the torch ``StreamingSession`` (itself bit-exact with SAM2VideoPredictor).
The daemon then runs the bundled models on exported parts in a process where torch cannot
be imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from daemon_helpers import read_jsonl, short_video, write_config  # noqa: E402
from edge_detsam2.export import sam2_parts  # noqa: E402

from edge_detsam2.artifacts import sam2_parts_dir, sam2_source_hash  # noqa: E402
from edge_detsam2.config import BUNDLED_SAM2, MODELS_DIR, load_config  # noqa: E402
from edge_detsam2.errors import ConfigError  # noqa: E402
from edge_detsam2.tracker.engine import PartsSession, bf16_round  # noqa: E402
from edge_detsam2.tracker.model import ModelSpec, build_model, small_overrides  # noqa: E402
from edge_detsam2.tracker.runners import OnnxPartRunner, TorchPartRunner  # noqa: E402

SIZE = 256


@pytest.fixture(scope="module")
def model() -> Any:
    torch.manual_seed(0)
    m = build_model(ModelSpec(overrides=small_overrides(SIZE)))
    with torch.no_grad():
        m.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(6.0)
    return m


@pytest.fixture(scope="module")
def onnx_runner(model: Any, tmp_path_factory: pytest.TempPathFactory) -> OnnxPartRunner:
    out = tmp_path_factory.mktemp("parts")
    sam2_parts.export_parts(model, out, opset=17, source={"source_hash": "test", "source": "random"})
    return OnnxPartRunner(out, threads=2)


def test_every_part_matches_torch_on_random_inputs(model: Any, onnx_runner: OnnxPartRunner) -> None:
    assert set(onnx_runner.sessions) == {
        "image_encoder",
        "memory_attention",
        "decoder_track",
        "decoder_box",
        "mask_prompt",
        "memory_encoder",
        "ptr_tpos",
    }
    report = sam2_parts.part_parity(model, onnx_runner)
    for name, r in report.items():
        assert r["max_abs"] <= 1e-4 * max(1.0, r["ref_abs_max"]), (name, r)
        assert r["cosine"] >= 0.9999, (name, r)


def test_memory_attention_part_equals_sam2s_memory_attention(model: Any) -> None:
    """The part (shared first layer, values weighted before v_proj) computes SAM2's own module."""
    from edge_detsam2.tracker.parts import MemoryAttentionPart, example_inputs

    ex = example_inputs(model, batch=3, frames=2, ptrs=4)["memory_attention"]
    part = MemoryAttentionPart(model).eval()
    b, h = 3, SIZE // 16
    curr = ex["feat"].flatten(2).permute(2, 0, 1).expand(-1, b, -1)
    memory = torch.cat([ex["memory"], ex["ptr"]], 1).transpose(0, 1)
    pos = torch.cat([ex["memory_pos"], ex["ptr_pos"]], 1).transpose(0, 1)
    curr_pos = part.curr_pos.transpose(0, 1).expand(-1, b, -1)
    with torch.inference_mode():
        ref = model.memory_attention(
            curr=[curr], curr_pos=[curr_pos], memory=memory, memory_pos=pos, num_obj_ptr_tokens=ex["ptr"].shape[1]
        )
        ref = ref.permute(1, 2, 0).reshape(b, -1, h, h)
        got = part(**ex)
    assert torch.allclose(got, ref, atol=1e-5, rtol=1e-5), float((got - ref).abs().max())


def test_onnx_session_tracks_like_the_torch_session(model: Any, onnx_runner: OnnxPartRunner) -> None:
    result = sam2_parts.tracked_parity(model, onnx_runner, frames=60, objects=6, prompt_every=30)
    assert result["min_iou"] >= 0.99, result
    assert result["mask_logit_max_abs"] < 0.05, result


def test_torch_parts_are_exact_and_memory_is_bounded(model: Any) -> None:
    runner = TorchPartRunner(model)
    result = sam2_parts.tracked_parity(model, runner, frames=24, objects=3, prompt_every=10)
    assert result["min_iou"] == 1.0 and result["mask_logit_max_abs"] < 1e-3, result
    frames, boxes = sam2_parts.synthetic_clip(40, 3)
    session = PartsSession(runner, max_cond_frames=2)
    for f, img in enumerate(frames):
        if f % 5 == 0:
            for i, box in enumerate(boxes[f]):
                session.add_box(i, box, str(i), as_mask=True)
        session.step(img)
    # 8 prompts per object, 2 kept; tracked frames: only those of the last 16 (object pointers reach
    # 16 frames back), less the prompted frames 25, 30, 35 among them
    assert session.state_size() == {"objects": 3, "cond": 3 * 2, "non_cond": 3 * 13}


def test_bf16_rounding_matches_torch() -> None:
    x = np.random.default_rng(0).normal(0, 3, 10_000).astype(np.float32)
    x[:4] = [0.0, -0.0, 1e-40, 65504.0]
    ref = torch.from_numpy(x).to(torch.bfloat16).float().numpy()
    assert np.array_equal(bf16_round(x), ref)


def test_runtime_config_rules(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("perception:\n  sam2:\n    runtime: onnxruntime\n    encoder: tensorrt\n")
    with pytest.raises(ConfigError, match="encoder"):
        load_config(cfg)
    cfg.write_text("perception:\n  sam2:\n    runtime: onnxruntime\n    bank: b.safetensors\n")
    with pytest.raises(ConfigError, match="bank"):
        load_config(cfg)
    cfg.write_text("perception:\n  sam2:\n    runtime: onnxruntime\n")
    assert load_config(cfg).perception.sam2.runtime == "onnxruntime"


BLOCK_TORCH = """
import sys
sys.modules.update(dict.fromkeys(["torch", "torchvision", "ultralytics", "sam2", "hydra"], None))
from edge_detsam2.cli import main
rc = main(["run", "--config", sys.argv[1]])
assert not [m for m, v in sys.modules.items() if m.split(".")[0] == "torch" and v is not None]
sys.exit(rc)
"""


def test_daemon_tracks_a_clip_on_exported_parts_without_torch(tmp_path: Path, sim_dir: Path) -> None:
    from edge_detsam2.tracker.model import BUNDLED_OVERRIDES

    ckpt = MODELS_DIR / BUNDLED_SAM2
    cache = tmp_path / "cache"
    parts_dir = sam2_parts_dir(cache, sam2_source_hash(ModelSpec().config, BUNDLED_OVERRIDES, ckpt), 17)
    tracks = tmp_path / "tracks.jsonl"
    video = short_video(sim_dir / "clip_000.mp4", tmp_path / "short.mp4", 8)
    cfg = write_config(
        tmp_path / "cfg.yaml",
        sim_dir,
        source={"uri": str(video)},
        perception={"backend": "sam2", "sam2": {"runtime": "onnxruntime"}},
        outputs={"tracks_jsonl": str(tracks)},
        export={"cache_dir": str(cache)},
    )
    # no parts set yet: one line naming the export command, exit 2
    run = [sys.executable, "-c", BLOCK_TORCH, str(cfg)]
    proc = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "edge-detsam2 export --config" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr

    bundled = build_model(ModelSpec(checkpoint=ckpt, overrides=BUNDLED_OVERRIDES))
    sam2_parts.export_parts(
        bundled,
        parts_dir,
        opset=17,
        source={"source_hash": sam2_source_hash(ModelSpec().config, BUNDLED_OVERRIDES, ckpt)},
    )
    proc = subprocess.run(run, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    frames = read_jsonl(tracks)
    assert [f["frame"] for f in frames] == list(range(8))
    labels = {o["label"] for f in frames[2:] for o in f["objects"]}
    assert len(labels) >= 8, labels  # the rack's balls, tracked and named on every frame

    # a changed file in the set is refused with the rebuild command
    (parts_dir / "ptr_tpos.onnx").write_bytes(b"not onnx")
    proc = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "sha256 mismatch" in proc.stderr and "edge-detsam2 export" in proc.stderr
    meta = json.loads((parts_dir / "parts.json").read_text())
    assert meta["hyperparams"]["image_size"] == 512
