from __future__ import annotations

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
