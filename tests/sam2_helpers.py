"""Helpers for SAM2 tracker tests (plain functions, importable from tests/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_detsam2.tracker.model import ModelSpec, build_model, small_overrides

N_FRAMES = 22
CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"


def box_of(tracks: list, label: str) -> np.ndarray:
    obj = next(o for o in tracks[0].objects if o.label == label)
    return np.array(obj.bbox) + np.array([-2.0, -2.0, 2.0, 2.0])


def load_model(checkpoint: Path) -> Any:
    return build_model(ModelSpec(CONFIG, checkpoint, small_overrides(256)))
