"""The streaming session computes what Meta's SAM2VideoPredictor computes, with bounded state.

A small SAM2.1 (reduced hiera-tiny, 256 px) is randomly initialised, saved as a checkpoint
and loaded through both the official builder and ours; both then track objects on frames
of a rendered clip.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")


from sam2_helpers import CONFIG, N_FRAMES, box_of, load_model  # noqa: E402

from edge_detsam2.tracker.model import ModelSpec, TrackerError, build_model, small_overrides  # noqa: E402
from edge_detsam2.tracker.session import StreamingSession  # noqa: E402


def _official(checkpoint: Path, jpg: Path, boxes: dict[int, np.ndarray]) -> dict[int, torch.Tensor]:
    from sam2.build_sam import build_sam2_video_predictor

    predictor = build_sam2_video_predictor(
        CONFIG, str(checkpoint), device="cpu", hydra_overrides_extra=list(small_overrides(256))
    )
    predictor.max_cond_frames_in_attn = 4  # the session's bound; one prompt, so no effect
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")
        state = predictor.init_state(str(jpg))
        for obj_id, box in boxes.items():
            predictor.add_new_points_or_box(state, frame_idx=0, obj_id=obj_id, box=box)
        return {f: masks.clone() for f, _, masks in predictor.propagate_in_video(state)}


def test_matches_the_official_video_predictor(checkpoint: Path, clip: tuple) -> None:
    jpg, frames, tracks = clip
    box = box_of(tracks, "cue_ball")
    expected = _official(checkpoint, jpg, {1: box})
    session = StreamingSession(build_model(ModelSpec(CONFIG, checkpoint, small_overrides(256))))
    session.add_box(1, box, "cue_ball")
    fractions, spreads, worst = [], [], 0.0
    for i, frame in enumerate(frames):
        out = session.step(frame)
        got = out.video_res_logits()
        assert out.obj_ids == (1,)
        diff = (got - expected[i]).abs().max().item()
        worst = max(worst, diff)
        assert diff < 1e-3, f"frame {i}: max |logit diff| {diff}"
        assert torch.equal(got > 0, expected[i] > 0)
        fractions.append(float((expected[i] > 0).float().mean()))
        spreads.append(float(expected[i].std()))
    # The comparison is not vacuous: masks are neither empty nor full, logits vary.
    assert 0.0 < max(fractions) < 1.0 and min(spreads) > 0.01
    print(f"max |logit diff| vs SAM2VideoPredictor over {N_FRAMES} frames: {worst:.2e}")


def test_batching_objects_equals_tracking_each_alone(checkpoint: Path, clip: tuple) -> None:
    _, frames, tracks = clip
    labels = ["cue_ball", "ball_1", "ball_8"]
    model = build_model(ModelSpec(CONFIG, checkpoint, small_overrides(256)))
    together = StreamingSession(model)
    alone = {label: StreamingSession(model) for label in labels}
    for k, label in enumerate(labels):
        together.add_box(k, box_of(tracks, label), label)
        alone[label].add_box(k, box_of(tracks, label), label)
    for frame in frames[:12]:
        batch = together.step(frame)
        assert batch.labels == tuple(labels)
        for k, label in enumerate(labels):
            single = alone[label].step(frame)
            assert np.allclose(batch.mask_logits[k], single.mask_logits[0], atol=1e-4)


def test_state_stays_bounded_and_objects_come_and_go(checkpoint: Path, clip: tuple) -> None:
    _, frames, tracks = clip
    session = StreamingSession(build_model(ModelSpec(CONFIG, checkpoint, small_overrides(256))), max_cond_frames=2)
    session.add_box(0, box_of(tracks, "cue_ball"), "cue_ball")
    for i in range(60):
        if i == 10:
            session.add_box(5, box_of(tracks, "ball_5"), "ball_5")  # mid-stream addition, no reset
        if i in (20, 30, 40):
            session.add_box(0, box_of(tracks, "cue_ball"))  # re-anchor: a new conditioning frame
        if i == 50:
            session.remove(5)
        out = session.step(frames[i % len(frames)])
        assert set(out.obj_ids) == ({0, 5} if 10 <= i < 50 else {0})
        size = session.state_size()
        assert size["cond"] <= 2 * size["objects"]
        assert size["non_cond"] <= session.keep_non_cond * size["objects"]
    c = out.centroids_px()
    assert c.shape == (1, 2)


def test_bad_inputs_and_checkpoints(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(TrackerError, match="does not exist"):
        build_model(ModelSpec(CONFIG, tmp_path / "missing.pt", small_overrides(256)))
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(TrackerError, match="cannot be read safely"):
        build_model(ModelSpec(CONFIG, bad, small_overrides(256)))
    with pytest.raises(TrackerError, match="does not match the model config"):
        build_model(ModelSpec(CONFIG, checkpoint, small_overrides(256, layers=2)))
    session = StreamingSession(build_model(ModelSpec(CONFIG, checkpoint, small_overrides(256))))
    with pytest.raises(TrackerError, match="box"):
        session.add_box(1, [10, 10, 5, 20])
    with pytest.raises(TrackerError, match="uint8"):
        session.step(np.zeros((10, 10, 3), dtype=np.float32))
    session.step(np.zeros((20, 30, 3), dtype=np.uint8))
    with pytest.raises(TrackerError, match="frame size changed"):
        session.step(np.zeros((30, 30, 3), dtype=np.uint8))


def test_preload_bank_round_trip_is_exact(checkpoint: Path, clip: tuple, tmp_path: Path) -> None:
    """A bank saved after the prompt frame continues tracking exactly like the original stream."""
    _, frames, tracks = clip
    model = load_model(checkpoint)
    original = StreamingSession(model)
    original.add_box(3, box_of(tracks, "cue_ball"), "cue_ball")
    original.add_box(7, box_of(tracks, "ball_8"), "ball_8")
    original.step(frames[0])
    st, js = original.save_bank(tmp_path / "bank")
    assert st.suffix == ".safetensors" and js.suffix == ".json"
    assert b"pickle" not in st.read_bytes()[:200]
    seeded = StreamingSession(model)
    seeded.load_bank(tmp_path / "bank")
    assert set(seeded.object_ids) == {3, 7}
    for frame in frames[1:10]:
        a, b = original.step(frame), seeded.step(frame)
        assert a.obj_ids == b.obj_ids and a.labels == b.labels
        assert np.array_equal(a.mask_logits, b.mask_logits)
    # Bank memories survive the cond-frame bound even when new prompts arrive.
    seeded.max_cond_frames = 1
    for frame in frames[10:14]:
        seeded.add_box(3, box_of(tracks, "cue_ball"))
        seeded.step(frame)
    assert min(seeded._objects[3].cond) == -1 and len(seeded._objects[3].cond) == 2


def test_incompatible_banks_are_refused(checkpoint: Path, clip: tuple, tmp_path: Path) -> None:
    _, frames, tracks = clip
    session = StreamingSession(load_model(checkpoint))
    with pytest.raises(TrackerError, match="track at least one frame"):
        session.save_bank(tmp_path / "empty")
    session.add_box(1, box_of(tracks, "cue_ball"), "cue_ball")
    session.step(frames[0])
    session.save_bank(tmp_path / "bank")
    other = load_model(checkpoint)
    with torch.no_grad():
        other.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.add_(1.0)
    with pytest.raises(TrackerError, match="another SAM2 model"):
        StreamingSession(other).load_bank(tmp_path / "bank")
    with pytest.raises(TrackerError, match="new session"):
        session.load_bank(tmp_path / "bank")
    with pytest.raises(TrackerError, match="missing"):
        StreamingSession(load_model(checkpoint)).load_bank(tmp_path / "nope")
    (tmp_path / "bank.json").write_text("{broken")
    with pytest.raises(TrackerError, match="invalid JSON"):
        StreamingSession(load_model(checkpoint)).load_bank(tmp_path / "bank")


@pytest.mark.parametrize("kind", ["torch", "parts"])
def test_a_restarted_object_tracks_as_if_prompted_for_the_first_time(checkpoint: Path, clip: tuple, kind: str) -> None:
    """``add_box(restart=True)`` forgets the object's memories: from then on it is a new object.

    An object tracked for 6 frames is re-prompted with ``restart`` on frame 6 at another ball;
    its masks from then on equal those of a session that first sees the object on frame 6
    with the same prompt. Without ``restart`` the old memories change them.
    """
    from edge_detsam2.tracker.engine import PartsSession
    from edge_detsam2.tracker.runners import TorchPartRunner

    _, frames, tracks = clip
    model = load_model(checkpoint)

    def session() -> StreamingSession | PartsSession:
        return StreamingSession(model) if kind == "torch" else PartsSession(TorchPartRunner(model))

    fresh = session()
    fresh.add_box(0, box_of(tracks, "ball_8"), "ball_8", as_mask=True)
    expected = [fresh.step(f).mask_logits for f in frames[6:10]]
    for restart in (True, False):
        s = session()
        s.add_box(0, box_of(tracks, "cue_ball"), "cue_ball", as_mask=True)
        for f in frames[:6]:
            s.step(f)
        s.add_box(0, box_of(tracks, "ball_8"), "ball_8", as_mask=True, restart=restart)
        got = [s.step(f).mask_logits for f in frames[6:10]]
        same = all(np.allclose(a, b, atol=1e-4) for a, b in zip(got, expected, strict=True))
        assert same == restart, f"restart={restart}"
        assert sorted(s._objects[0].cond) == ([6] if restart else [0, 6])
