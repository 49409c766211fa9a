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
CALIBRATION_IMAGES = 64  # training frames that set the batch norms of a detector fine-tuned from ONNX


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


def _data_root(data: Path, spec: dict[str, Any]) -> Path:
    root = Path(spec.get("path") or data.parent)
    return root if root.is_absolute() else (data.parent / root).resolve()


def _train_images(data: Path, spec: dict[str, Any]) -> list[Path]:
    """The train split's images, sorted; empty when it is not a folder or list of folders."""
    root = _data_root(data, spec)
    dirs = [spec["train"]] if isinstance(spec.get("train"), str) else spec.get("train")
    trains = [root / d for d in dirs] if isinstance(dirs, list) else []
    if not trains or not all(t.is_dir() for t in trains):
        return []
    return sorted(p for t in trains for p in t.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def _shuffled_data(data: Path, spec: dict[str, Any], work: Path, seed: int) -> Path:
    """A copy of data.yaml whose train split (one folder or a list of them) is a shuffled image list.

    With ``rect`` batches ultralytics turns off shuffling and keeps file order, so every
    batch would come from one clip; a shuffled list mixes clips, tables and looks.
    """
    root = _data_root(data, spec)
    files = [str(p) for p in _train_images(data, spec)]
    if not files:
        return data
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
        elif model.endswith(".onnx"):
            images = _train_images(data, spec)
            step = max(1, len(images) // CALIBRATION_IMAGES)
            source = str(checkpoint_from_onnx(Path(model), names, images[::step][:CALIBRATION_IMAGES], work))
        elif model in ("yolov8p", "yolov8n", "yolov8s"):
            source = str(_model_yaml(len(names), model[-1], work))
        else:
            raise ConfigError(
                f"--model {model}: use yolov8p, yolov8n, yolov8s, or a .pt or exported .onnx detector to fine-tune"
            )
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
            warmup_epochs=0.5 if model.endswith((".pt", ".onnx")) else 3.0,
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


def checkpoint_from_onnx(onnx_path: Path, names: dict[int, str], images: list[Path], work: Path) -> Path:
    """An ultralytics checkpoint (``.pt`` in ``work``) with the weights of an exported detector.

    The shipped detector is ONNX: ultralytics fused each batch norm into its convolution. To
    fine-tune it, every ``Conv`` gets the fused kernel back and a batch norm that undoes its own
    normalisation: running mean and variance are the convolution's per-channel statistics on
    ``images`` (the training frames), weight = sqrt(var + eps), bias = mean + the fused bias. In
    eval mode the model computes exactly what the ONNX file does; in training mode the batch's
    statistics are close to those, so the first steps start from the shipped detector.
    """
    import cv2
    import numpy as np
    import onnx
    import torch
    from onnx import numpy_helper
    from ultralytics.nn.modules import Conv
    from ultralytics.nn.tasks import DetectionModel

    from edge_detsam2.detector.yolo import letterbox

    try:
        graph = onnx.load(str(onnx_path)).graph
    except Exception as exc:  # any unreadable file is one line
        raise ConfigError(f"--model {onnx_path}: not a readable ONNX file ({exc})") from None
    weights = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer}
    stem = weights.get("model.0.conv.weight")
    scale = {8: "p", 16: "n", 32: "s"}.get(int(stem.shape[0])) if stem is not None else None
    if scale is None:
        raise ConfigError(f"--model {onnx_path}: not a YOLOv8 p/n/s detector exported by ultralytics")
    model = DetectionModel(str(_model_yaml(len(names), scale, work)), verbose=False)  # type: ignore[no-untyped-call]
    convs = {name: m for name, m in model.named_modules() if isinstance(m, Conv)}
    state = model.state_dict()
    for key in state:
        prefix = key.rsplit(".", 1)[0]
        if prefix.endswith(".bn") or key.rsplit(".", 2)[0] in convs:
            continue  # Conv+BN pairs below
        if key in weights:
            if weights[key].shape != state[key].shape:
                raise ConfigError(
                    f"--model {onnx_path}: {key} has shape {tuple(weights[key].shape)}, expected "
                    f"{tuple(state[key].shape)}; was it trained on the classes of --data?"
                )
            state[key] = weights[key]
    for name, m in convs.items():
        w, b = weights.get(f"{name}.conv.weight"), weights.get(f"{name}.conv.bias")
        if w is None or b is None or w.shape != m.conv.weight.shape:
            raise ConfigError(f"--model {onnx_path}: no fused weights for {name}; export it with ultralytics")
        state[f"{name}.conv.weight"] = w
        state[f"{name}.bn.weight"] = torch.ones_like(b)
        state[f"{name}.bn.bias"] = b
        state[f"{name}.bn.running_mean"] = torch.zeros_like(b)
        state[f"{name}.bn.running_var"] = torch.full_like(b, 1.0) - m.bn.eps
    missing = [k for k, _ in model.named_parameters() if k not in weights and k.rsplit(".", 2)[0] not in convs]
    if missing:
        raise ConfigError(f"--model {onnx_path}: no weights for {missing[0]}; export it with ultralytics")
    model.load_state_dict(state)
    # Now exact in eval mode; measure each convolution's output statistics on real frames.
    sums: dict[str, list[Any]] = {n: [0, 0.0, 0.0] for n in convs}  # count, sum, sum of squares

    def measure(name: str, out: torch.Tensor) -> None:
        z = out.detach().double().transpose(0, 1).flatten(1)
        acc = sums[name]
        acc[0] += z.shape[1]
        acc[1] = acc[1] + z.sum(dim=1)
        acc[2] = acc[2] + (z * z).sum(dim=1)

    hooks = [m.conv.register_forward_hook(lambda _m, _i, out, n=n: measure(n, out)) for n, m in convs.items()]
    dims = [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim]
    shape_hw = (dims[2], dims[3]) if len(dims) == 4 and dims[2] > 0 and dims[3] > 0 else (640, 640)
    model.eval()
    with torch.no_grad():
        for path in images:
            bgr = cv2.imread(str(path))
            if bgr is None:
                continue
            img = letterbox(np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8), shape_hw)[0]
            x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()[None] / 255.0
            model(x)
    for hook in hooks:
        hook.remove()
    if not sums[next(iter(convs))][0]:
        raise ConfigError(f"no readable training images to measure the detector's statistics ({len(images)} listed)")
    for name, m in convs.items():
        n, total, squares = sums[name]
        mean = (total / n).float()
        var = (squares / n - total * total / (n * n)).clamp(min=0.0).float()
        state[f"{name}.bn.running_mean"] = mean
        state[f"{name}.bn.running_var"] = var
        state[f"{name}.bn.weight"] = torch.sqrt(var + m.bn.eps)
        state[f"{name}.bn.bias"] = mean + weights[f"{name}.conv.bias"]
    model.load_state_dict(state)
    model.names = names
    path = work / f"{onnx_path.stem}-from-onnx.pt"
    torch.save({"model": model, "train_args": {}}, path)  # our own file, read back by ultralytics below
    return path
