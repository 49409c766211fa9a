"""``edge-detsam2 train detector``: an ultralytics YOLO on a ``simulate --yolo-dataset`` set.

Works the same on a user's own dataset in ultralytics format (images/, labels/, data.yaml):
one class per ball identity (``cue_ball``, ``ball_1`` … ``ball_15``) plus ``pocket``.
Writes the best weights, and beside them a JSON recipe (command, seed, data, metrics).
"""

from __future__ import annotations

import json
import logging
import os
import random
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
    # "p" (pico): YOLOv8n's depth at half its width, a quarter of its compute. Balls on cloth
    # need little capacity; identity comes from the crop classifier.
    spec["scales"]["p"] = [0.33, 0.125, 1024]
    spec.update(nc=nc, scale=scale)
    path = workdir / f"yolov8{scale}-billiards.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _shuffled_data(data: Path, spec: dict[str, Any], work: Path, seed: int) -> Path:
    """A copy of data.yaml whose train split (one folder or a list of them) is a shuffled image list.

    With ``rect`` batches ultralytics turns off shuffling and keeps file order, so every
    batch would come from one clip; a shuffled list mixes clips, tables and looks.
    """
    root = Path(spec.get("path") or data.parent)
    if not root.is_absolute():
        root = (data.parent / root).resolve()
    dirs = [spec["train"]] if isinstance(spec["train"], str) else spec["train"]
    trains = [root / d for d in dirs] if isinstance(dirs, list) else []
    if not trains or not all(t.is_dir() for t in trains):
        return data
    files = sorted(str(p) for t in trains for p in t.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    random.Random(seed).shuffle(files)
    listing = work / "train.txt"
    listing.write_text("\n".join(files) + "\n")
    val = spec.get("val")
    out = dict(spec, path=str(root), train=str(listing), val=str(root / val) if isinstance(val, str) else val)
    path = work / "data.yaml"
    path.write_text(yaml.safe_dump(out, sort_keys=False))
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
    rect: bool = True,
    hours: float | None = None,
    workdir: Path | None = None,
    resume: bool = False,
    cache: bool = True,
) -> dict[str, Any]:
    """Train, copy the best weights to ``out``, write ``out``.json; returns the recipe.

    ``workdir`` keeps ultralytics' run (``last.pt`` every epoch), so ``resume=True`` goes on
    from where an interrupted run stopped, with the same settings.
    """
    from edge_detsam2.detector.yolo import _quiet_ultralytics

    if not data.is_file():
        raise ConfigError(f"--data {data}: no such file; make one with: edge-detsam2 simulate OUT --yolo-dataset DIR")
    try:
        spec = yaml.safe_load(data.read_text())
        names = spec["names"]
    except (yaml.YAMLError, KeyError, TypeError) as exc:
        raise ConfigError(f"--data {data}: not an ultralytics data.yaml with 'names' ({exc})") from None
    if isinstance(names, list):
        names = dict(enumerate(names))
    _quiet_ultralytics()
    import ultralytics.utils.torch_utils as yolo_torch_utils
    from ultralytics import YOLO  # type: ignore[attr-defined]

    # ultralytics trains on cpu_count() - 1 threads: half of a 2-core machine. Use them all.
    yolo_torch_utils.NUM_THREADS = os.cpu_count() or 1  # type: ignore[attr-defined]
    temporary = workdir is None
    work = Path(tempfile.mkdtemp(prefix="edge-detsam2-train-")) if workdir is None else workdir.resolve()
    work.mkdir(parents=True, exist_ok=True)
    last = work / "run" / "weights" / "last.pt"
    t0 = time.monotonic()
    if resume:
        if not last.is_file():
            raise ConfigError(
                f"--resume: no interrupted run in {work} (no run/weights/last.pt); start without --resume"
            )
        YOLO(str(last), task="detect").train(resume=True)
    else:
        if model.endswith(".pt"):
            source: Any = model  # fine-tune from given weights (trusted file)
        elif model in ("yolov8p", "yolov8n", "yolov8s"):
            source = str(_model_yaml(len(names), model[-1], work))
        else:
            raise ConfigError(f"--model {model}: use yolov8p, yolov8n, yolov8s or a .pt file to fine-tune")
        yolo = YOLO(source, task="detect")
        yolo.train(
            data=str(_shuffled_data(data, spec, work, seed) if rect else data),
            epochs=epochs,
            time=hours,
            imgsz=imgsz,
            batch=batch,
            seed=seed,
            deterministic=True,
            device=device,
            workers=workers,
            patience=patience,
            rect=rect,
            cache=cache,
            # overhead camera: up/down and left/right flips are both real views; small tilts
            flipud=0.5,
            degrees=3.0,
            # a fine-tune starts from trained weights: a short warm-up, not 3 epochs of it
            warmup_epochs=0.5 if model.endswith(".pt") else 3.0,
            plots=False,
            project=str(work),
            name="run",
            exist_ok=True,
            verbose=False,
            amp=False,
        )
    best = work / "run" / "weights" / "best.pt"
    if not best.is_file():
        best = last
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(best, out)
    metrics = YOLO(str(out), task="detect").val(
        data=str(data), imgsz=imgsz, batch=batch, device=device, plots=False, verbose=False, workers=workers, rect=rect
    )
    recipe = {
        "command": " ".join(["edge-detsam2", *sys.argv[1:]]) if sys.argv[0].endswith("edge-detsam2") else None,
        "data": str(data),
        "model": model,
        "epochs": epochs,
        "hours": hours,
        "imgsz": imgsz,
        "batch": batch,
        "rect": rect,
        "seed": seed,
        "device": device,
        "resumed": resume,
        "train_seconds": round(time.monotonic() - t0, 1),
        "val": {"mAP50": float(metrics.box.map50), "mAP50-95": float(metrics.box.map)},
        "per_class_mAP50": {
            names[int(i)]: float(v) for i, v in zip(metrics.box.ap_class_index, metrics.box.ap50, strict=False)
        },
    }
    out.with_suffix(".json").write_text(json.dumps(recipe, indent=1) + "\n")
    if temporary:
        shutil.rmtree(work, ignore_errors=True)
    return recipe
