"""``edge-detsam2 train detector``: an ultralytics YOLO on a ``simulate --yolo-dataset`` set.

Works the same on a user's own dataset in ultralytics format (images/, labels/, data.yaml):
one class per ball identity (``cue_ball``, ``ball_1`` … ``ball_15``) plus ``pocket``.
Writes the best weights, and beside them a JSON recipe (command, seed, data, metrics).
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from edge_detsam2.errors import ConfigError

logger = logging.getLogger(__name__)


def _model_yaml(nc: int, scale: str, workdir: Path) -> Path:
    import ultralytics

    spec = yaml.safe_load((Path(ultralytics.__file__).parent / "cfg/models/v8/yolov8.yaml").read_text())
    spec.update(nc=nc, scale=scale)
    path = workdir / f"yolov8{scale}-billiards.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def train_detector(
    data: Path,
    out: Path,
    *,
    model: str = "yolov8n",
    epochs: int = 30,
    imgsz: int = 640,
    batch: int = 8,
    seed: int = 0,
    device: str = "cpu",
    workers: int = 2,
    patience: int = 50,
) -> dict[str, Any]:
    """Train, copy the best weights to ``out``, write ``out``.json; returns the recipe."""
    from edge_detsam2.detector.yolo import _quiet_ultralytics

    if not data.is_file():
        raise ConfigError(f"--data {data}: no such file; make one with: edge-detsam2 simulate OUT --yolo-dataset DIR")
    try:
        spec = yaml.safe_load(data.read_text())
        names = spec["names"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"--data {data}: not an ultralytics data.yaml with 'names' ({exc})") from None
    _quiet_ultralytics()
    from ultralytics import YOLO  # type: ignore[attr-defined]

    work = Path(tempfile.mkdtemp(prefix="edge-detsam2-train-"))
    if model.endswith(".pt"):
        source: Any = model  # fine-tune from given weights (trusted file)
    elif model in ("yolov8n", "yolov8s"):
        source = str(_model_yaml(len(names), model[-1], work))
    else:
        raise ConfigError(f"--model {model}: use yolov8n, yolov8s or a .pt file to fine-tune")
    t0 = time.monotonic()
    yolo = YOLO(source, task="detect")
    yolo.train(
        data=str(data),
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        seed=seed,
        deterministic=True,
        device=device,
        workers=workers,
        patience=patience,
        plots=False,
        project=str(work),
        name="run",
        exist_ok=True,
        verbose=False,
        amp=False,
    )
    best = work / "run" / "weights" / "best.pt"
    if not best.is_file():
        best = work / "run" / "weights" / "last.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(best, out)
    metrics = YOLO(str(out), task="detect").val(
        data=str(data), imgsz=imgsz, batch=batch, device=device, plots=False, verbose=False, workers=workers
    )
    recipe = {
        "command": " ".join(["edge-detsam2", *sys.argv[1:]]) if sys.argv[0].endswith("edge-detsam2") else None,
        "data": str(data),
        "model": model,
        "epochs": epochs,
        "imgsz": imgsz,
        "batch": batch,
        "seed": seed,
        "device": device,
        "train_seconds": round(time.monotonic() - t0, 1),
        "val": {"mAP50": float(metrics.box.map50), "mAP50-95": float(metrics.box.map)},
        "per_class_mAP50": {
            names[int(i)]: float(v) for i, v in zip(metrics.box.ap_class_index, metrics.box.ap50, strict=False)
        },
    }
    out.with_suffix(".json").write_text(json.dumps(recipe, indent=1) + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return recipe
