"""One synthetic clip: physics -> camera -> rendered video plus exact ground truth files.

Writes ``<name>.mp4``, ``<name>.events.jsonl``, ``<name>.tracks.jsonl``,
``<name>.table.yaml`` and ``<name>.masks.jsonl`` (see ``edge_detsam2.sim.masks``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml
from numpy.typing import NDArray

from edge_detsam2.errors import SimulationError
from edge_detsam2.geometry.calibration import PocketSpec, TableCalibration
from edge_detsam2.geometry.homography import Homography
from edge_detsam2.sim.ball_render import BallAppearance, BallPainter, random_orientation
from edge_detsam2.sim.camera import CameraModel, make_camera
from edge_detsam2.sim.cue_render import cue_alpha, tip_gap_m
from edge_detsam2.sim.groundtruth import clip_events
from edge_detsam2.sim.look import Look, ball_colour, draw_look
from edge_detsam2.sim.masks import InstanceMask, frame_masks_json
from edge_detsam2.sim.people import bridge_hand, draw_arms, render_arm
from edge_detsam2.sim.physics import BallKinematics, PhysicsClip, ball_number, simulate_physics
from edge_detsam2.sim.table_render import render_background
from edge_detsam2.sim.yolo_dataset import YoloDatasetWriter
from edge_detsam2.tracks import TrackedObject, TrackFrame

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
NOISE_BANK = 4
MAX_SUBSAMPLES = 16
BLUR_STEP_PX = 1.5  # one sub-frame render per this much motion during the exposure
STREAK_PEAK = 0.9  # a ball whose blurred alpha peaks below this covers no pixel all exposure: a streak


@dataclass(frozen=True)
class ClipOptions:
    """What one clip looks like; every field is a CLI flag of ``simulate``."""

    width: int = 1280
    height: int = 720
    fps: float = 30.0
    shots: int = 3
    ball_set: str = "eightball"
    table_size: str = "7ft"
    layout: str = "rack"
    perspective: float = 1.0
    yolo_every: int = 10
    yolo_fast: bool = False  # also sample every frame in which a ball is a motion streak
    video: bool = True  # False: ground truth only (tracks, events, table), no rendering
    domain: str = "wide"  # look randomisation: wide (sim-to-real) or narrow (green studio table)


@dataclass(frozen=True)
class ClipResult:
    name: str
    frames: int
    events: int
    render_s: float
    paths: dict[str, Path]


def calibration_for(name: str, physics: PhysicsClip, camera: CameraModel) -> TableCalibration:
    h = camera.homography
    pockets = tuple(
        PocketSpec(id=pid, px=tuple(float(c) for c in h.to_image(np.asarray(xy))), radius_m=r)  # type: ignore[arg-type]
        for pid, (xy, r) in physics.pockets_m.items()
    )
    return TableCalibration(
        table_id=name,
        length_m=physics.length_m,
        width_m=physics.width_m,
        ball_radius_m=physics.ball_radius_m,
        corners_px=camera.corners_px,  # type: ignore[arg-type]
        pockets=pockets,
    )


class _Renderer:
    """Per-clip rendering state: background, ball orientations, noise bank."""

    def __init__(self, rng: np.random.Generator, physics: PhysicsClip, camera: CameraModel, look: Look) -> None:
        self.physics, self.camera, self.rng, self.look = physics, camera, rng, look
        self.background = render_background(
            rng,
            camera,
            length_m=physics.length_m,
            width_m=physics.width_m,
            pockets_m=physics.pockets_m,
            look=look,
        )
        self.vignette = camera.vignette()
        shape = (camera.height, camera.width, 3)
        self.noise = [rng.standard_normal(shape, dtype=np.float32) * look.noise_sigma for _ in range(NOISE_BANK)]
        self.painter = BallPainter()
        self.streaks = 0  # balls drawn as motion streaks (no pixel fully covered) in the last frame
        self.balls = {
            label: BallAppearance(
                ball_number(label),
                random_orientation(rng),
                ball_colour(look, ball_number(label)),
                look.cue_ball_mark if label == "cue_ball" else "plain",
            )
            for label in physics.labels
        }
        self.arms = draw_arms(
            rng,
            look,
            length_m=physics.length_m,
            width_m=physics.width_m,
            end_t_s=physics.end_t_s,
            shots=len(physics.shots),
        )
        self.bridge_side = [float(rng.choice([-1.0, 1.0])) for _ in physics.shots]
        self.defocus = look.defocus_sigma_px * camera.width / 1280

    def subsample_centres(self, label: str, t: float, kin: BallKinematics) -> F64:
        speed_px = float(np.hypot(*kin.v_mps)) * float(self.camera.homography.pixels_per_metre(kin.xy_m)[0])
        k = int(np.clip(math.ceil(speed_px * self.camera.exposure_s / BLUR_STEP_PX), 1, MAX_SUBSAMPLES))
        if k == 1:
            return self.camera.homography.to_image(kin.xy_m[None, :])
        times = t + self.camera.exposure_s * np.linspace(-0.5, 0.5, k)
        pts = [self.physics.state(label, float(ts)) for ts in times]
        # Sub-frames after the ball dropped into a pocket contribute nothing (it fades out).
        xy = np.array([p.xy_m for p in pts if p.on_table] or [kin.xy_m])
        centres = self.camera.homography.to_image(xy)
        if len(xy) < k:  # keep the averaging weight of the missing sub-frames
            centres = np.concatenate([centres, np.full((k - len(xy), 2), np.nan)])
        return centres

    def frame(
        self, i: int, t: float
    ) -> tuple[NDArray[np.uint8], list[TrackedObject], list[InstanceMask], dict[str, float]]:
        img = self.background.copy()
        h_img, w_img = img.shape[:2]
        dt = 1.0 / self.camera.fps
        objects: list[TrackedObject] = []
        sprites = []
        disc_area: dict[str, float] = {}
        self.streaks = 0
        for label in self.physics.labels:
            kin = self.physics.state(label, t)
            if i > 0:
                self.balls[label].spin(kin.w_radps, dt)
            if not kin.on_table:
                continue
            obj = _track_object(label, kin.xy_m, self.camera.homography, self.physics.ball_radius_m)
            objects.append(obj)
            oid, centre, r = obj.id, np.array([obj.cx, obj.cy]), float(obj.r or 0.0)
            disc_area[oid] = math.pi * r * r
            centres = self.subsample_centres(label, t, kin)
            valid = centres[~np.isnan(centres[:, 0])]
            (x0, y0), rgb, alpha = self.painter.sprite(self.balls[label], valid, r)
            # A ball that moves more than its diameter in a frame never reaches alpha 0.5:
            # its mask is where the streak is at least half its own peak, so a break-speed
            # ball still has a mask (and a YOLO box, and an identity crop). A ball at rest
            # peaks at 1 and keeps the 0.5 threshold; the pocket fade below still applies.
            peak = float(alpha.max()) if alpha.size else 1.0
            mask_at = 0.5 * min(1.0, peak)
            self.streaks += peak < STREAK_PEAK
            alpha *= len(valid) / len(centres)
            rgb *= len(valid) / len(centres)
            self._shadow(img, centre, r)
            sprites.append((oid, label, x0, y0, rgb, alpha, mask_at))
        for _, _, x0, y0, rgb, alpha, _ in sprites:
            _composite(img, x0, y0, rgb, alpha)
        cue_a = self._draw_occluders(img, t)
        masks = []
        for oid, label, x0, y0, _, alpha, mask_at in sprites:
            m = alpha > mask_at
            if cue_a is not None:
                ys, xs = (
                    slice(max(y0, 0), min(y0 + m.shape[0], h_img)),
                    slice(max(x0, 0), min(x0 + m.shape[1], w_img)),
                )
                occl = np.zeros_like(m)
                occl[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0] = cue_a[ys, xs] > 0.5
                m &= ~occl
            clipped = _clip_mask(m, x0, y0, w_img, h_img)
            inst = None
            if clipped is not None:
                inst = InstanceMask.from_full(oid, label, clipped[0], (clipped[1], clipped[2]))
            if inst is not None:
                masks.append(inst)
        img *= self.vignette
        if self.defocus > 0.05:
            img = np.asarray(cv2.GaussianBlur(img, (0, 0), self.defocus), dtype=np.float32)
        img += self.noise[int(self.rng.integers(NOISE_BANK))]
        out = np.clip(img, 0, 255).astype(np.uint8)
        if self.look.jpeg_quality:
            ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, self.look.jpeg_quality])
            if ok:
                out = np.asarray(cv2.imdecode(buf, cv2.IMREAD_UNCHANGED), dtype=np.uint8)
        return out, objects, masks, disc_area

    def _shadow(self, img: F32, centre: F64, r: float) -> None:
        c = centre + np.array([0.12, 0.18]) * r
        x0, y0 = int(c[0] - 1.3 * r), int(c[1] - 1.3 * r)
        size = int(2.6 * r) + 2
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
        d2 = ((xx + x0 - c[0]) ** 2 + (yy + y0 - c[1]) ** 2) / (1.15 * r) ** 2
        shade = 1.0 - 0.45 * np.clip(1.0 - d2, 0.0, 1.0)
        _multiply(img, x0, y0, shade)

    def _draw_occluders(self, img: F32, t: float) -> F32 | None:
        """Arms at the rails, then the bridge hand and the cue; returns their joint coverage."""
        cover: F32 | None = None
        shape = img.shape[:2]
        layers = [
            render_arm(self.camera.homography, shape, self.look, np.array(arm.hand_m), np.array(arm.direction))
            for arm in self.arms
            if arm.t0_s <= t <= arm.t1_s
        ]
        layers += self._cue_layers(t, shape)
        for a, colour in layers:
            img *= 1.0 - a[..., None]
            img += colour * a[..., None]
            cover = a if cover is None else np.maximum(cover, a)
        return cover

    def _cue_layers(self, t: float, shape: tuple[int, ...]) -> list[tuple[F32, F32]]:
        for k, shot in enumerate(self.physics.shots):
            gap = tip_gap_m(t - shot.strike_t_s)
            if gap is None:
                continue
            ball = self.physics.state("cue_ball", shot.strike_t_s - 1e-6)
            phi = np.deg2rad(shot.phi_deg)
            direction = np.array([np.sin(phi), np.cos(phi)])  # pooltool (cos, sin) in table (X, Y)
            h = self.camera.homography
            layers = []
            if self.look.bridge_hand:
                layers.append(
                    bridge_hand(h, (shape[0], shape[1]), self.look, ball.xy_m, direction, self.bridge_side[k])
                )
            layers.append(cue_alpha(h, (shape[0], shape[1]), ball.xy_m, direction, gap, self.physics.ball_radius_m))
            return layers
        return []


def _track_object(label: str, xy_m: F64, h: Homography, radius_m: float) -> TrackedObject:
    """The exact ground-truth track entry of a ball at table position ``xy_m``."""
    c = h.to_image(xy_m)
    r = float(h.pixels_per_metre(xy_m)[0]) * radius_m
    bbox = (float(c[0] - r), float(c[1] - r), float(c[0] + r), float(c[1] + r))
    return TrackedObject(str(ball_number(label)), label, float(c[0]), float(c[1]), r, bbox, 1.0)


def _exact_objects(physics: PhysicsClip, camera: CameraModel, t: float) -> list[TrackedObject]:
    """Ground-truth track objects at time t without rendering (the renderer writes the same)."""
    out = []
    for label in physics.labels:
        kin = physics.state(label, t)
        if kin.on_table:
            out.append(_track_object(label, kin.xy_m, camera.homography, physics.ball_radius_m))
    return out


def _window(x0: int, y0: int, h: int, w: int, img_w: int, img_h: int) -> tuple[slice, slice, slice, slice] | None:
    xa, ya, xb, yb = max(x0, 0), max(y0, 0), min(x0 + w, img_w), min(y0 + h, img_h)
    if xa >= xb or ya >= yb:
        return None
    return slice(ya, yb), slice(xa, xb), slice(ya - y0, yb - y0), slice(xa - x0, xb - x0)


def _composite(img: F32, x0: int, y0: int, rgb: F32, alpha: F32) -> None:
    win = _window(x0, y0, alpha.shape[0], alpha.shape[1], img.shape[1], img.shape[0])
    if win is None:
        return
    iy, ix, sy, sx = win
    img[iy, ix] = img[iy, ix] * (1.0 - alpha[sy, sx, None]) + rgb[sy, sx]


def _multiply(img: F32, x0: int, y0: int, gain: F32) -> None:
    win = _window(x0, y0, gain.shape[0], gain.shape[1], img.shape[1], img.shape[0])
    if win is None:
        return
    iy, ix, sy, sx = win
    img[iy, ix] *= gain[sy, sx, None]


def _clip_mask(m: NDArray[np.bool_], x0: int, y0: int, w: int, h: int) -> tuple[NDArray[np.bool_], int, int] | None:
    win = _window(x0, y0, m.shape[0], m.shape[1], w, h)
    if win is None:
        return None
    iy, ix, sy, sx = win
    return m[sy, sx], ix.start, iy.start


def render_clip(
    out_dir: Path,
    name: str,
    seed: np.random.SeedSequence,
    opts: ClipOptions,
    yolo: tuple[YoloDatasetWriter, str] | None = None,
) -> ClipResult:
    """Simulate and render one clip into ``out_dir``; optionally feed a YOLO dataset."""
    rng = np.random.default_rng(seed)
    physics = simulate_physics(
        rng,
        n_shots=opts.shots,
        ball_set=opts.ball_set,
        table_size=opts.table_size,
        layout=opts.layout,
    )
    camera = make_camera(
        rng,
        width=opts.width,
        height=opts.height,
        fps=opts.fps,
        length_m=physics.length_m,
        width_m=physics.width_m,
        perspective=opts.perspective,
    )
    calib = calibration_for(name, physics, camera)
    kinds = (
        ("mp4", "events.jsonl", "tracks.jsonl", "table.yaml", "masks.jsonl")
        if opts.video
        else ("events.jsonl", "tracks.jsonl", "table.yaml")
    )
    paths = {k: out_dir / f"{name}.{k}" for k in kinds}
    paths["table.yaml"].write_text(yaml.safe_dump(calib.model_dump(mode="json"), sort_keys=False))
    events = clip_events(physics, table_id=name, fps=opts.fps, id_prefix=f"gt-{name}")
    paths["events.jsonl"].write_text("".join(e.to_json() + "\n" for e in events))
    n_frames = math.ceil(physics.end_t_s * opts.fps)
    if not opts.video:
        t0 = time.perf_counter()
        with open(paths["tracks.jsonl"], "w") as fh:
            for i in range(n_frames):
                fh.write(
                    TrackFrame(i, i / opts.fps, tuple(_exact_objects(physics, camera, i / opts.fps))).to_json() + "\n"
                )
        return ClipResult(name, n_frames, len(events), time.perf_counter() - t0, paths)
    look = draw_look(np.random.default_rng(seed.spawn(1)[0]), domain=opts.domain)
    renderer = _Renderer(rng, physics, camera, look)
    pockets_px = [
        (
            p.px[0],
            p.px[1],
            p.radius_m * float(camera.homography.pixels_per_metre(np.asarray(physics.pockets_m[p.id][0]))[0]),
        )
        for p in calib.resolved_pockets()
    ]
    writer = cv2.VideoWriter(str(paths["mp4"]), cv2.VideoWriter.fourcc(*"mp4v"), opts.fps, (opts.width, opts.height))
    if not writer.isOpened():
        raise SimulationError(f"cannot open a video writer for {paths['mp4']}; check that the directory is writable")
    t0 = time.perf_counter()
    with open(paths["tracks.jsonl"], "w") as tracks_fh, open(paths["masks.jsonl"], "w") as masks_fh:
        for i in range(n_frames):
            t = i / opts.fps
            img, objects, masks, disc_area = renderer.frame(i, t)
            writer.write(cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
            tracks_fh.write(TrackFrame(i, t, tuple(objects)).to_json() + "\n")
            masks_fh.write(frame_masks_json(i, (opts.height, opts.width), masks) + "\n")
            if yolo is not None and (i % opts.yolo_every == 0 or (opts.yolo_fast and renderer.streaks)):
                yolo[0].add(yolo[1], f"{name}_{i:06d}", img, masks, disc_area, pockets_px)
    writer.release()
    return ClipResult(name, n_frames, len(events), time.perf_counter() - t0, paths)
