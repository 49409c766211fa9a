from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_detsam2.errors import InputFormatError
from edge_detsam2.sim.masks import InstanceMask, rle_decode, rle_encode


@pytest.mark.parametrize("seed", range(5))
def test_rle_round_trip(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 30)))) > 0.5
    runs = rle_encode(m)
    assert sum(runs) == m.size
    assert np.array_equal(rle_decode(runs, m.shape), m)


def test_rle_starts_with_zeros_run() -> None:
    assert rle_encode(np.array([[1, 1, 0]], dtype=bool)) == [0, 2, 1]
    assert rle_encode(np.array([[0, 1, 1]], dtype=bool)) == [1, 2]


def test_crop_and_restore() -> None:
    full = np.zeros((20, 30), dtype=bool)
    full[5:9, 10:14] = True
    inst = InstanceMask.from_full("3", "ball_3", full)
    assert inst is not None and (inst.x, inst.y, inst.box.shape) == (10, 5, (4, 4))
    assert np.array_equal(inst.full((20, 30)), full)
    assert InstanceMask.from_full("3", "ball_3", np.zeros((4, 4), dtype=bool)) is None


def test_bad_rle_length_is_an_error() -> None:
    with pytest.raises(InputFormatError, match="covers 3 pixels"):
        rle_decode([1, 2], (2, 2))


def test_read_clip_walks_video_and_masks_in_step(sim_dir: Path, tmp_path: Path) -> None:
    """Frames come as RGB with the masks of the same frame; a missing video or masks file is
    one clear error naming it."""
    import cv2

    from edge_detsam2.sim.masks import read_clip, read_masks

    got = list(read_clip(sim_dir, "clip_000"))
    masks = list(read_masks(sim_dir / "clip_000.masks.jsonl"))
    cap = cv2.VideoCapture(str(sim_dir / "clip_000.mp4"))
    ok, bgr = cap.read()
    n_video = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    assert ok and len(got) == min(n_video, len(masks)) > 10
    assert [i for i, _, _ in got] == [i for i, _, _ in masks[: len(got)]]
    _, rgb, inst = got[0]
    assert rgb.shape == (*masks[0][1], 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb, bgr[..., ::-1])  # RGB, not OpenCV's BGR
    assert [m.id for m in inst] == [m.id for m in masks[0][2]]
    shutil.copy(sim_dir / "clip_000.masks.jsonl", tmp_path)
    with pytest.raises(InputFormatError, match=r"clip_000\.mp4 cannot be read"):
        list(read_clip(tmp_path, "clip_000"))
    with pytest.raises(InputFormatError, match=r"clip_001\.masks\.jsonl is missing"):
        list(read_clip(tmp_path, "clip_001"))
