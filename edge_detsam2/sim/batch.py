"""Render a set of simulated clips with ground truth (the library behind ``simulate``).

``simulate_clips(outdir, SimulateOptions(...))`` writes per clip ``.mp4``, ``.events.jsonl``,
``.tracks.jsonl``, ``.table.yaml`` and ``.masks.jsonl``, optionally an ultralytics dataset
and identity crops, and a ``manifest.json``. The demo and the benchmarks call it directly.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge_detsam2.errors import UsageError

LAYOUTS = ("mixed", "rack", "scatter")
SIZE_FACTORS = (0.75, 1.0, 1.5)


@dataclass(frozen=True)
class SimulateOptions:
    """What to render; field names are the ``simulate`` flags without ``--``."""

    clips: int = 1
    seed: int = 0
    shots: int = 3
    width: int = 1280
    height: int = 720
    fps: float = 30.0
    ball_set: str = "eightball"
    table_size: str = "7ft"
    layout: str = "mixed"
    perspective: float = 1.0
    vary_size: bool = False
    domain: str = "wide"
    video: bool = True
    yolo_dataset: Path | None = None
    yolo_classes: str = "identity"
    crops: Path | None = None
    augment: bool = False
    yolo_every: int = 10
    yolo_fast: bool = False

    def validate(self) -> None:
        """UsageError naming the flag of the first invalid option."""
        checks = [
            (self.clips >= 1, "--clips must be >= 1"),
            (1 <= self.shots <= 50, "--shots must be between 1 and 50"),
            (64 <= self.width <= 4096 and self.width % 2 == 0, "--width must be an even number of pixels in 64..4096"),
            (
                64 <= self.height <= 4096 and self.height % 2 == 0,
                "--height must be an even number of pixels in 64..4096",
            ),
            (self.height < self.width, "--height must be smaller than --width (the table's long side is horizontal)"),
            (1.0 <= self.fps <= 240.0, "--fps must be between 1 and 240"),
            (self.layout in LAYOUTS, f"--layout must be one of {', '.join(LAYOUTS)}"),
            (self.domain in ("wide", "narrow"), "--domain must be wide or narrow"),
            (0.0 <= self.perspective <= 3.0, "--perspective must be between 0 and 3"),
            (self.yolo_every >= 1, "--yolo-every must be >= 1"),
            (self.video or self.yolo_dataset is None, "--yolo-dataset needs rendered frames; drop --no-video"),
            (self.yolo_classes in ("identity", "ball"), "--yolo-classes must be identity or ball"),
            (self.crops is None or self.yolo_dataset is not None, "--crops samples the --yolo-dataset frames; add it"),
            (not self.yolo_fast or self.yolo_dataset is not None, "--yolo-fast samples --yolo-dataset frames; add it"),
        ]
        for ok, msg in checks:
            if not ok:
                raise UsageError(msg)
        from edge_detsam2.sim.physics import BALL_SETS, TABLE_SIZES_M

        if self.ball_set not in BALL_SETS:
            raise UsageError(f"--ball-set {self.ball_set!r}: use one of {', '.join(BALL_SETS)}")
        if self.table_size not in TABLE_SIZES_M:
            raise UsageError(f"--table-size {self.table_size!r}: use one of {', '.join(TABLE_SIZES_M)}")


@dataclass
class SimulateResult:
    manifest: list[dict[str, Any]] = field(default_factory=list)
    frames: int = 0
    render_s: float = 0.0
    data_yaml: Path | None = None
    dataset_counts: dict[str, int] = field(default_factory=dict)
    crop_counts: dict[str, int] = field(default_factory=dict)

    def clip_paths(self, outdir: Path) -> list[Path]:
        return [outdir / f"{m['clip']}.mp4" for m in self.manifest]


def _even(x: float) -> int:
    return round(x / 2) * 2


def simulate_clips(
    outdir: Path, opts: SimulateOptions, on_clip: Callable[[dict[str, Any], float], None] | None = None
) -> SimulateResult:
    """Render ``opts.clips`` clips into ``outdir``; ``on_clip(manifest_entry, render_fps)`` after each."""
    opts.validate()
    from edge_detsam2.sim.clip import ClipOptions, render_clip
    from edge_detsam2.sim.yolo_dataset import YoloDatasetWriter

    outdir.mkdir(parents=True, exist_ok=True)
    yolo = (
        YoloDatasetWriter(
            opts.yolo_dataset, classes=opts.yolo_classes, crops=opts.crops, augment=opts.augment, seed=opts.seed
        )
        if opts.yolo_dataset
        else None
    )
    n_val = max(1, round(opts.clips * 0.2)) if opts.clips > 1 else 0
    result = SimulateResult()
    for k in range(opts.clips):
        seed = np.random.SeedSequence([opts.seed, k])
        factor = SIZE_FACTORS[int(np.random.default_rng([opts.seed, k, 1]).integers(3))] if opts.vary_size else 1.0
        layout = opts.layout if opts.layout != "mixed" else ("rack" if k % 2 == 0 else "scatter")
        clip_opts = ClipOptions(
            width=_even(opts.width * factor),
            height=_even(opts.height * factor),
            fps=opts.fps,
            shots=opts.shots,
            ball_set=opts.ball_set,
            table_size=opts.table_size,
            layout=layout,
            perspective=opts.perspective,
            yolo_every=opts.yolo_every,
            yolo_fast=opts.yolo_fast,
            video=opts.video,
            domain=opts.domain,
        )
        name = f"clip_{k:03d}"
        split = ("val" if k >= opts.clips - n_val else "train") if n_val else ("val" if k % 5 == 4 else "train")
        res = render_clip(outdir, name, seed, clip_opts, (yolo, split) if yolo else None)
        result.frames += res.frames
        result.render_s += res.render_s
        entry = {
            "clip": name,
            "frames": res.frames,
            "events": res.events,
            "width": clip_opts.width,
            "height": clip_opts.height,
            "fps": clip_opts.fps,
            "layout": layout,
            "split": split,
        }
        result.manifest.append(entry)
        if on_clip is not None:
            on_clip(entry, res.frames / max(res.render_s, 1e-9))
    if yolo is not None:
        result.data_yaml = yolo.finish()
        result.dataset_counts = dict(yolo.counts)
        result.crop_counts = dict(yolo.crop_counts)
    (outdir / "manifest.json").write_text(json.dumps({"seed": opts.seed, "clips": result.manifest}, indent=1) + "\n")
    return result
