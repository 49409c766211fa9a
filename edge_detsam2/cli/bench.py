"""``edge-detsam2 bench tracker``: per-stage latency, frames/s and peak memory of the streaming
engine, and the same frames through Meta's ``SAM2VideoPredictor`` for the speed ratio.

Frames come from a simulated 1280x720 clip (or ``--clip``); boxes from its exact tracks
prompt ``--objects`` balls every ``--prompt-every`` frames in both engines.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from edge_detsam2.errors import UsageError

STAGES = {
    "image_encoder": "encoder",
    "memory_attention": "memory attention",
    "sam_mask_decoder": "mask decoder",
    "memory_encoder": "memory encoder",
}


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("bench", help="benchmarks that print numbers (tracker)")
    p.add_argument("what", choices=["tracker"], help="what to benchmark")
    p.add_argument("--config", default="configs/sam2.1/sam2.1_hiera_t.yaml", help="official SAM2 config name")
    p.add_argument("--checkpoint", type=Path, default=None, help="SAM2 checkpoint (default: random weights)")
    p.add_argument("--image-size", type=int, default=512, help="model input size (default 512)")
    p.add_argument("--small", action="store_true", help="reduced hiera-tiny (fewer blocks), as in the tests")
    p.add_argument(
        "--bundled", action="store_true", help="the bundled model (slim hiera-tiny at 512 px and its checkpoint)"
    )
    p.add_argument("--objects", type=int, default=6, help="balls to track (default 6)")
    p.add_argument("--frames", type=int, default=60, help="frames to time (default 60)")
    p.add_argument("--prompt-every", type=int, default=30, help="box prompts every N frames (default 30)")
    p.add_argument("--clip", type=Path, default=None, help="simulated clip directory (default: render one)")
    p.add_argument("--official", action="store_true", help="also run SAM2VideoPredictor and print the ratio")
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    p.add_argument(
        "--runtime",
        choices=["torch", "onnxruntime"],
        default="torch",
        help="torch: StreamingSession on the torch model; onnxruntime: every part exported and run by ONNX Runtime "
        "(also runs the torch session for the mask IoU against it and the speed ratio)",
    )
    p.add_argument("--slope", action="store_true", help="also time 1 and 16 objects: the per-object cost")
    p.set_defaults(func=run)


def _no_sync() -> None:
    """CPU work is synchronous: nothing to wait for."""


class StageTimer:
    """Wall time per SAM2 module via forward hooks (synchronises CUDA around each call)."""

    def __init__(self, model: Any) -> None:
        import torch

        self.totals: dict[str, float] = defaultdict(float)
        self._start: dict[str, float] = {}
        self._cuda = next(model.parameters()).is_cuda
        self._sync: Callable[[], None] = torch.cuda.synchronize if self._cuda else _no_sync
        self._handles: list[Any] = []
        for attr, name in STAGES.items():
            module = getattr(model, attr)
            self._handles.append(module.register_forward_pre_hook(self._pre(name)))
            self._handles.append(module.register_forward_hook(self._post(name)))

    def remove(self) -> None:
        for h in self._handles:
            h.remove()

    def _pre(self, name: str) -> Any:
        def hook(*_: Any) -> None:
            self._sync()
            self._start[name] = time.perf_counter()

        return hook

    def _post(self, name: str) -> Any:
        def hook(*_: Any) -> None:
            self._sync()
            self.totals[name] += time.perf_counter() - self._start.pop(name)

        return hook


def _clip_frames(args: argparse.Namespace) -> tuple[list[np.ndarray], list[Any]]:
    import cv2

    from edge_detsam2.sim.batch import SimulateOptions, simulate_clips
    from edge_detsam2.tracks import read_tracks

    clip = args.clip
    if clip is None:
        clip = Path(tempfile.mkdtemp(prefix="edge-detsam2-bench-"))
        simulate_clips(clip, SimulateOptions(shots=1, seed=1, layout="rack"))
    cap = cv2.VideoCapture(str(clip / "clip_000.mp4"))
    tracks = list(read_tracks(clip / "clip_000.tracks.jsonl"))
    start = 20  # a few frames before the break shot: balls at rest, then moving fast
    cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = []
    for _ in range(args.frames):
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    return frames, tracks[start : start + len(frames)]


def _prompts(tracks: list[Any], n_objects: int, every: int) -> dict[int, list[tuple[int, str, np.ndarray]]]:
    labels = [o.label for o in tracks[0].objects][:n_objects]
    out: dict[int, list[tuple[int, str, np.ndarray]]] = {}
    for f in range(0, len(tracks), every):
        objs = {o.label: o for o in tracks[f].objects}
        out[f] = [(k, lb, np.array(objs[lb].bbox) + [-2, -2, 2, 2]) for k, lb in enumerate(labels) if lb in objs]
    return out


def run(args: argparse.Namespace) -> int:
    import torch

    from edge_detsam2.tracker.model import ModelSpec, build_model, small_overrides
    from edge_detsam2.tracker.session import StreamingSession

    if args.image_size % 16 or not 128 <= args.image_size <= 2048:
        raise UsageError("--image-size must be a multiple of 16 between 128 and 2048")
    if args.objects < 1 or args.frames < 2 or args.prompt_every < 1:
        raise UsageError("--objects >= 1, --frames >= 2 and --prompt-every >= 1 are required")
    torch.manual_seed(0)
    feat = args.image_size // 16
    full = (
        f"++model.image_size={args.image_size}",
        f"++model.memory_attention.layer.self_attention.feat_sizes=[{feat},{feat}]",
        f"++model.memory_attention.layer.cross_attention.feat_sizes=[{feat},{feat}]",
    )
    overrides = small_overrides(args.image_size) if args.small else full
    checkpoint = args.checkpoint
    if args.bundled:
        from edge_detsam2.config import BUNDLED_SAM2, MODELS_DIR
        from edge_detsam2.tracker.model import BUNDLED_OVERRIDES

        overrides, checkpoint = BUNDLED_OVERRIDES, MODELS_DIR / BUNDLED_SAM2
    spec = ModelSpec(args.config, checkpoint, tuple(overrides), args.device)
    frames, tracks = _clip_frames(args)
    prompts = _prompts(tracks, args.objects, args.prompt_every)
    model = build_model(spec)
    print(
        f"{args.config} @ {args.image_size} px, {args.objects} objects, {len(frames)} frames, "
        f"prompts every {args.prompt_every}, device {args.device}, runtime {args.runtime}"
    )
    make = _session_factory(args, model)
    ours, stages, masks = _timed(make, frames, prompts)
    n = len(frames)
    for name, ms in stages.items():
        print(f"  {name:<17} {ms / n:8.1f} ms/frame")
    print(f"  {'total':<17} {1000 * ours:8.1f} ms/frame  ({1 / ours:.2f} frames/s)")
    print(
        f"  peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
        + (f", peak CUDA {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if args.device.startswith("cuda") else "")
    )
    if args.runtime != "torch":
        base, _, ref = _timed(lambda: StreamingSession(model), frames, prompts)
        ious = [_min_iou(a, b) for a, b in zip(ref, masks, strict=True)]
        print(f"torch StreamingSession: {1000 * base:8.1f} ms/frame; {args.runtime} is {base / ours:.2f}x faster")
        print(f"mask IoU vs torch: min {min(ious):.4f}, mean {float(np.mean(ious)):.4f} over {n} frames")
    if args.official:
        theirs = _official(spec, model, frames, prompts)
        print(f"SAM2VideoPredictor: {1000 * theirs:8.1f} ms/frame ({1 / theirs:.2f} frames/s)")
        print(f"speed-up (official / streaming {args.runtime}): {theirs / ours:.2f}x")
    if args.slope:
        per = {}
        for k in (1, 16):
            t, _, _ = _timed(make, frames, _prompts(tracks, k, args.prompt_every))
            per[k] = t
            print(f"  {k:>2} objects: {1000 * t:8.1f} ms/frame")
        print(f"per-object slope: {(per[16] - per[1]) / 15:.3f} s/frame per object")
    return 0


def _session_factory(args: argparse.Namespace, model: Any) -> Callable[[], Any]:
    from edge_detsam2.tracker.session import StreamingSession

    if args.runtime == "torch":
        return lambda: StreamingSession(model)
    from edge_detsam2.export.sam2_parts import export_parts
    from edge_detsam2.tracker.engine import PartsSession
    from edge_detsam2.tracker.runners import OnnxPartRunner

    parts_dir = Path(tempfile.mkdtemp(prefix="edge-detsam2-bench-parts-"))
    export_parts(model, parts_dir, opset=17, source={"source_hash": "bench", "source": args.config})
    provider = "cuda" if args.device.startswith("cuda") else "cpu"
    return lambda: PartsSession(OnnxPartRunner(parts_dir, provider=provider), max_cond_frames=4)


def _timed(
    make: Callable[[], Any], frames: list[np.ndarray], prompts: dict[int, list[Any]]
) -> tuple[float, dict[str, float], list[np.ndarray]]:
    """Seconds per frame, total ms per stage, and the mask logits of every frame."""
    import torch

    session = make()
    timer = StageTimer(session.model) if hasattr(session, "model") else None
    masks = []
    start = time.perf_counter()
    with torch.inference_mode():
        for i, frame in enumerate(frames):
            for k, label, box in prompts.get(i, []):
                session.add_box(k, box, label)
            masks.append(session.step(frame).mask_logits)
    per_frame = (time.perf_counter() - start) / len(frames)
    if timer is not None:
        timer.remove()
        stages = {name: 1000 * timer.totals[name] for name in STAGES.values()}
    else:
        stages = {PART_STAGES.get(k, k): v for k, v in session.stage_ms.items()}
    return per_frame, stages, masks


#: parts session stage names, in the words of the torch stages
PART_STAGES = {
    "image_encoder": "encoder",
    "memory_attention": "memory attention",
    "decoder_track": "mask decoder",
    "decoder_box": "box prompts",
    "mask_prompt": "mask prompts",
    "memory_encoder": "memory encoder",
    "ptr_tpos": "pointer encoding",
}


def _min_iou(a: np.ndarray, b: np.ndarray) -> float:
    ma, mb = a > 0, b > 0
    inter, union = (ma & mb).sum(axis=(1, 2, 3)), (ma | mb).sum(axis=(1, 2, 3))
    return float(np.where(union > 0, inter / np.maximum(union, 1), 1.0).min()) if len(a) else 1.0


def _official(spec: Any, model: Any, frames: list[np.ndarray], prompts: dict[int, list[Any]]) -> float:
    """Seconds per frame of Meta's predictor on the same frames, weights and prompts."""
    import torch
    from PIL import Image
    from sam2.build_sam import build_sam2_video_predictor

    with tempfile.TemporaryDirectory() as d:
        for i, f in enumerate(frames):
            Image.fromarray(f).save(Path(d) / f"{i:05d}.jpg", quality=95)
        ckpt = Path(d) / "model.pt"
        torch.save({"model": model.state_dict()}, ckpt)
        predictor = build_sam2_video_predictor(
            spec.config, str(ckpt), device=spec.device, hydra_overrides_extra=list(spec.overrides)
        )
        with warnings.catch_warnings(), torch.inference_mode():
            warnings.simplefilter("ignore")
            begin = time.perf_counter()
            state = predictor.init_state(d)  # needs the whole video up front; its time counts
            for frame_no, items in prompts.items():
                for k, _label, box in items:
                    predictor.add_new_points_or_box(state, frame_idx=frame_no, obj_id=k, box=box)
            for _ in predictor.propagate_in_video(state):
                pass
            return (time.perf_counter() - begin) / len(frames)
