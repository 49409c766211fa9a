"""Training and serving prepare a camera frame identically (decode, colour order, resize, normalisation)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_detsam2.config import SourceSection  # noqa: E402
from edge_detsam2.sources import open_source  # noqa: E402
from edge_detsam2.tracker.preprocess import to_model_input  # noqa: E402
from edge_detsam2.training.sam2 import CurriculumTrainer, load_clip  # noqa: E402


@pytest.mark.parametrize("size", [128, 512])
def test_training_and_serving_tensors_are_identical(sim_dir: Path, size: int) -> None:
    # training: frames packed from the clip, then the trainer's image batch without flips or gain
    clip = load_clip(sim_dir, "clip_000", size, max_frames=3)
    trainer = SimpleNamespace(frames=torch.from_numpy(np.stack(clip.frames)), _flip=CurriculumTrainer._flip)
    gains = torch.ones(3, 2)
    trained = CurriculumTrainer._images(trainer, torch.arange(3), torch.zeros(3, 2, dtype=torch.bool), gains)
    # serving: the daemon's file source and the session's input
    source = open_source(str(sim_dir / "clip_000.mp4"), SourceSection())
    served = []
    with contextlib.closing(source.frames()) as frames:  # joins the capture thread
        for frame in frames:
            if frame is not None:
                served.append(to_model_input(frame.image_rgb, size)[0])
            if len(served) == 3:
                break
    assert trained.shape == (3, 3, size, size)
    assert torch.allclose(trained, torch.stack(served), atol=1e-5)
