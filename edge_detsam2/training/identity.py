"""``edge-detsam2 train identity``: the ball-identity classifier on ``simulate --crops`` crops.

A small CNN (four conv blocks, ~0.1 M parameters) on 32×32 crops, trained with AdamW and
cosine decay, with the augmentation the renderer does not already vary per crop (rotation,
flips, brightness/contrast, blur, noise). Hue is never changed: colour is the identity.
Writes the ONNX model, its sidecar (names, crop geometry) and a JSON recipe with held-out
accuracy; ``--resume`` goes on from the checkpoint (safetensors) of an interrupted run.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from edge_detsam2.detector.identity import CROP_PX, CROP_SCALE, NOT_A_BALL, crop_boxes, to_input
from edge_detsam2.errors import ConfigError, InputFormatError
from edge_detsam2.sim.yolo_dataset import IDENTITY_NAMES

logger = logging.getLogger(__name__)


def load_crops(
    roots: Path | list[Path], split: str, names: tuple[str, ...] = IDENTITY_NAMES
) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """All crops of ``root/split/<label>/*.png`` of every root as (N, 32, 32, 3) RGB and class indices."""
    roots = [roots] if isinstance(roots, Path) else roots
    images, labels = [], []
    for k, name in enumerate(names):
        for p in [q for root in roots for q in sorted((root / split / name).glob("*.png"))]:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is None:
                raise ConfigError(f"--crops: {p} is not a readable image")
            if img.shape[:2] != (CROP_PX, CROP_PX):
                img = cv2.resize(img, (CROP_PX, CROP_PX), interpolation=cv2.INTER_AREA)
            images.append(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            labels.append(k)
    empty = [root / split for root in roots if not any((root / split).glob("*/*.png"))]
    mined = [str(d) for d in empty if (d / NOT_A_BALL).is_dir()]
    if mined:
        raise ConfigError(
            f"--crops: no crops in {', '.join(mined)}: the detector made no false box on those clips; "
            "run 'edge-detsam2 train identity-negatives' on more clips or with a larger --val-fraction"
        )
    if empty:
        raise ConfigError(
            f"--crops: no crops in {', '.join(map(str, empty))}; make them with: edge-detsam2 simulate --crops DIR"
        )
    return np.stack(images), np.asarray(labels, dtype=np.int64)


def build_net(n_classes: int = len(IDENTITY_NAMES)) -> Any:
    import torch.nn as nn

    def block(cin: int, cout: int) -> list[Any]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    return nn.Sequential(
        *block(3, 32),
        *block(32, 32),
        nn.MaxPool2d(2),  # 16
        *block(32, 64),
        *block(64, 64),
        nn.MaxPool2d(2),  # 8
        *block(64, 96),
        nn.MaxPool2d(2),  # 4
        *block(96, 128),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.1),
        nn.Linear(128, n_classes),
    )


def augment(batch: NDArray[np.uint8], rng: np.random.Generator) -> NDArray[np.float32]:
    """Random right-angle rotations and flips (a ball has no up), brightness, contrast, blur, noise."""
    out = np.empty(batch.shape, dtype=np.float32)
    for i, img in enumerate(batch):
        img = np.rot90(img, int(rng.integers(4)))
        if rng.uniform() < 0.5:
            img = img[:, ::-1]
        x = img.astype(np.float32)
        if rng.uniform() < 0.3:
            x = cv2.GaussianBlur(x, (0, 0), float(rng.uniform(0.3, 1.0)))
        mean = x.mean()
        x = (x - mean) * rng.uniform(0.75, 1.25) + mean * rng.uniform(0.7, 1.3)
        x += rng.normal(0, rng.uniform(0, 6), x.shape).astype(np.float32)
        out[i] = x
    return to_input(np.clip(out, 0, 255).astype(np.uint8))


def accuracy(net: Any, images: NDArray[np.uint8], labels: NDArray[np.int64], batch: int = 512) -> float:
    import torch

    net.eval()
    correct = 0
    with torch.inference_mode():
        for k in range(0, len(images), batch):
            logits = net(torch.from_numpy(to_input(images[k : k + batch])))
            correct += int((logits.argmax(1).numpy() == labels[k : k + batch]).sum())
    net.train()
    return correct / max(len(images), 1)


def _load_net(net: Any, path: Path) -> None:
    """The classifier's weights from a checkpoint that ``train_identity`` wrote (safetensors)."""
    from safetensors.torch import load_file

    net.load_state_dict({k[4:]: v for k, v in load_file(str(path)).items() if k.startswith("net.")})


def train_identity(
    crops: Path | list[Path],
    out: Path,
    *,
    epochs: int = 30,
    batch: int = 128,
    lr: float = 3e-3,
    seed: int = 0,
    resume: bool = False,
    time_budget_s: float | None = None,
    init: Path | None = None,
) -> dict[str, Any]:
    """Train, export ``out`` (ONNX) with ``out``.json (sidecar + recipe); returns the recipe.

    ``init``: a checkpoint (``.ckpt.safetensors``) of an earlier run to fine-tune, with a
    fresh schedule (new crops, a few epochs).
    """
    import torch
    from safetensors.torch import save_file

    if out.suffix != ".onnx":
        raise ConfigError(f"--out {out}: the identity model is written as ONNX; use a .onnx path")
    roots = [crops] if isinstance(crops, Path) else crops
    # Crops of detector boxes that are no ball ('train identity-negatives') add a class.
    rejects = any((root / split / NOT_A_BALL).is_dir() for root in roots for split in ("train", "val"))
    names = IDENTITY_NAMES + ((NOT_A_BALL,) if rejects else ())
    x_train, y_train = load_crops(roots, "train", names)
    x_val, y_val = load_crops(roots, "val", names)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = build_net(len(names))
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = max(1, len(x_train) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch, pct_start=0.1)
    out.parent.mkdir(parents=True, exist_ok=True)
    ckpt = out.with_suffix(".ckpt.safetensors")
    start_epoch, history = 0, []
    if init is not None and not resume:
        if not init.is_file():
            raise ConfigError(f"--init {init}: no such checkpoint; 'train identity' writes one beside its --out")
        try:
            _load_net(net, init)
        except (OSError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"--init {init}: not a checkpoint of this classifier with these classes ({str(exc).splitlines()[0]})"
            ) from None
    if resume:
        if not ckpt.is_file():
            raise ConfigError(f"--resume: no checkpoint {ckpt}; start without --resume")
        meta = json.loads(out.with_suffix(".ckpt.json").read_text())
        _load_net(net, ckpt)
        start_epoch, history = int(meta["epoch"]), meta["history"]
        for _ in range(start_epoch * steps_per_epoch):
            sched.step()
    t0 = time.monotonic()
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=0.05)
    for epoch in range(start_epoch, epochs):
        order = rng.permutation(len(x_train))
        total = 0.0
        for k in range(steps_per_epoch):
            idx = order[k * batch : (k + 1) * batch]
            xb = torch.from_numpy(augment(x_train[idx], rng))
            loss = loss_fn(net(xb), torch.from_numpy(y_train[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach())
        val_acc = accuracy(net, x_val, y_val)
        history.append(
            {"epoch": epoch + 1, "loss": round(total / steps_per_epoch, 4), "val_accuracy": round(val_acc, 4)}
        )
        print(
            f"identity epoch {epoch + 1}/{epochs}: loss {total / steps_per_epoch:.4f}, val accuracy {val_acc:.4f}",
            flush=True,
        )
        save_file({f"net.{k}": v.contiguous() for k, v in net.state_dict().items()}, str(ckpt))
        out.with_suffix(".ckpt.json").write_text(json.dumps({"epoch": epoch + 1, "history": history}))
        if time_budget_s is not None and time.monotonic() - t0 > time_budget_s:
            print(f"identity: time budget reached after epoch {epoch + 1}; go on with --resume", flush=True)
            break
    export_identity(net, out)
    recipe = {
        "kind": "identity_classifier",
        "names": list(IDENTITY_NAMES),
        "not_a_ball": rejects,
        "crop_px": CROP_PX,
        "crop_scale": CROP_SCALE,
        "command": " ".join(["edge-detsam2", *sys.argv[1:]]) if sys.argv[0].endswith("edge-detsam2") else None,
        "crops": [str(c) for c in crops] if isinstance(crops, list) else str(crops),
        "train_crops": len(x_train),
        "val_crops": len(x_val),
        "epochs": epochs,
        "batch": batch,
        "lr": lr,
        "seed": seed,
        "init": str(init) if init is not None else None,
        "train_seconds": round(time.monotonic() - t0, 1),
        "val_accuracy": history[-1]["val_accuracy"] if history else None,
        "train_not_a_ball": int((y_train == len(IDENTITY_NAMES)).sum()),
        "val_not_a_ball": int((y_val == len(IDENTITY_NAMES)).sum()),
        "history": history,
    }
    out.with_suffix(".json").write_text(json.dumps(recipe, indent=1) + "\n")
    return recipe


def export_identity(net: Any, out: Path) -> None:
    import torch

    net.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        net,
        (torch.zeros(1, 3, CROP_PX, CROP_PX),),
        str(out),
        input_names=["crops"],
        output_names=["logits"],
        dynamic_axes={"crops": {0: "n"}, "logits": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )


def mine_negatives(
    clip_dirs: list[Path],
    out: Path,
    detector: Any,
    *,
    every: int = 1,
    val_fraction: float = 0.2,
    max_iou: float = 0.1,
    ball_class: str = "ball",
) -> dict[str, int]:
    """Crops of the detector's ``ball_class`` boxes that lie on no ball, from rendered clips.

    Runs ``detector`` on every ``every``-th frame of each clip of each ``simulate`` folder
    (its ``.mp4`` and ``.masks.jsonl``) and writes a crop of each ball box whose IoU with every
    ball's mask box (hidden ones too) is under ``max_iou`` and whose centre lies in none of
    them, as ``out/<split>/not_a_ball/*.png``; the last ``val_fraction`` of each folder's clips
    go to ``val`` (of a folder with one clip, the last ``val_fraction`` of its frames). Returns
    the counts per split.
    """
    from edge_detsam2.sim.masks import read_clip
    from edge_detsam2.tracker.association import box_iou

    counts = {"train": 0, "val": 0, "frames": 0, "boxes": 0}
    for folder in clip_dirs:
        manifest = folder / "manifest.json"
        try:
            names = [c["clip"] for c in json.loads(manifest.read_text())["clips"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"--clips: {manifest} is missing or unreadable ({exc}); make the folder with: edge-detsam2 simulate"
            ) from None
        n_val = int(np.ceil(val_fraction * len(names))) if len(names) > 1 else 0
        for split in ("train", "val"):
            (out / split / NOT_A_BALL).mkdir(parents=True, exist_ok=True)
        for k, name in enumerate(names):
            clip_split = "val" if k >= len(names) - n_val else "train"
            val_from: float = np.inf  # of a folder with one clip, the last val_fraction of its frames
            masks_file = folder / f"{name}.masks.jsonl"
            if len(names) == 1 and masks_file.is_file():  # (a missing one: read_clip says so)
                with open(masks_file, "rb") as fh:  # one line per frame
                    val_from = int((1 - val_fraction) * sum(1 for _ in fh))
            try:
                for i, rgb, masks in read_clip(folder, name):
                    if i % every:
                        continue
                    split = "val" if i >= val_from else clip_split
                    dets = detector.detect(rgb)
                    boxes = dets.boxes[np.array([lb == ball_class for lb in dets.labels], dtype=bool)]
                    counts["frames"] += 1
                    counts["boxes"] += len(boxes)
                    truth = np.array(
                        [(m.x, m.y, m.x + m.box.shape[1], m.y + m.box.shape[0]) for m in masks], dtype=np.float64
                    ).reshape(-1, 4)
                    iou = box_iou(boxes, truth) if len(truth) else np.zeros((len(boxes), 0))
                    for j, box in enumerate(boxes):
                        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                        inside = (truth[:, 0] <= cx) & (cx <= truth[:, 2]) & (truth[:, 1] <= cy) & (cy <= truth[:, 3])
                        if (iou.shape[1] and iou[j].max() >= max_iou) or inside.any():
                            continue
                        crop = crop_boxes(rgb, box[None])[0]
                        png = out / split / NOT_A_BALL / f"{folder.name}_{name}_{i:05d}_{j}.png"
                        cv2.imwrite(str(png), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
                        counts[split] += 1
            except InputFormatError as exc:
                raise ConfigError(f"--clips: {exc}") from None
            logger.info("negatives: %s/%s: %d train, %d val so far", folder.name, name, counts["train"], counts["val"])
    return counts
