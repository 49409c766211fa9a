"""Fixtures for tracker tests: a small random SAM2.1 checkpoint and frames of a rendered clip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from PIL import Image  # noqa: E402
from sam2_helpers import CONFIG, N_FRAMES  # noqa: E402

from edge_detsam2.cli import main  # noqa: E402
from edge_detsam2.tracker.model import ModelSpec, build_model, save_checkpoint, small_overrides  # noqa: E402
from edge_detsam2.tracks import read_tracks  # noqa: E402


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = build_model(ModelSpec(CONFIG, None, small_overrides(256)))
    # Random weights would call every object absent (all logits NO_OBJ_SCORE), which makes any
    # comparison vacuous: bias the object-score head so objects are present and masks vary.
    with torch.no_grad():
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(10.0)
    path = tmp_path_factory.mktemp("ckpt") / "sam2_small.pt"
    save_checkpoint(model, path)
    return path


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray], list]:
    """JPEG frames of a simulated break (as the official predictor wants them) and exact tracks."""
    d = tmp_path_factory.mktemp("clip")
    assert (
        main(
            [
                "simulate",
                str(d),
                "--clips",
                "1",
                "--shots",
                "1",
                "--width",
                "320",
                "--height",
                "180",
                "--layout",
                "rack",
                "--seed",
                "3",
            ]
        )
        == 0
    )
    import cv2

    cap = cv2.VideoCapture(str(d / "clip_000.mp4"))
    jpg = d / "jpg"
    jpg.mkdir()
    frames = []
    for i in range(N_FRAMES):
        cap.set(cv2.CAP_PROP_POS_FRAMES, 20 + i)  # start just before the strike
        ok, bgr = cap.read()
        assert ok
        Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).save(jpg / f"{i:05d}.jpg", quality=95)
        frames.append(np.array(Image.open(jpg / f"{i:05d}.jpg").convert("RGB")))
    tracks = list(read_tracks(d / "clip_000.tracks.jsonl"))[20 : 20 + N_FRAMES]
    return jpg, frames, tracks
