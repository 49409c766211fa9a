"""A real ultralytics YOLOv8n with the project's 17 classes and random weights, saved as .pt."""

from __future__ import annotations

from pathlib import Path

import yaml

from edge_detsam2.detector.yolo import _quiet_ultralytics
from edge_detsam2.sim.yolo_dataset import CLASS_NAMES


def make_random_yolo(path: Path, *, cls_bias: float | None = None, cls_gain: float = 1.0, seed: int = 0) -> Path:
    """Build yolov8n (nc=17, our class names), optionally bias class scores up, save to ``path``.

    Random weights score every anchor around 1e-4 (ultralytics' prior); a positive ``cls_bias``
    makes the model emit confident boxes, so prompting code paths run. ``cls_gain`` scales the
    class head's weights so scores spread with image content instead of tying (NMS on tied
    scores is order-dependent, which would make backend parity checks meaningless).
    """
    _quiet_ultralytics()
    import torch
    import ultralytics
    from ultralytics import YOLO  # type: ignore[attr-defined]

    torch.manual_seed(seed)
    spec = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models/v8/yolov8.yaml").read_text())
    spec.update(nc=len(CLASS_NAMES), scale="n")
    cfg = path.with_name("yolov8n-billiards.yaml")
    cfg.write_text(yaml.safe_dump(spec))
    model = YOLO(str(cfg))
    model.model.names = dict(enumerate(CLASS_NAMES))
    if cls_bias is not None:
        with torch.no_grad():
            for seq in model.model.model[-1].cv3:
                seq[-1].bias.fill_(cls_bias)
                seq[-1].weight.mul_(cls_gain)
    model.save(str(path))
    return path
