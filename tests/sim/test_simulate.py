"""The simulator's outputs agree with each other and with the physics they claim.

These tests read only the files ``edge-detsam2 simulate`` wrote (video, tracks, masks,
events, calibration), as every downstream consumer does.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import Clip, disc_mean

from edge_detsam2.events.types import EventType
from edge_detsam2.sim.yolo_dataset import CLASS_INDEX, CLASS_NAMES


def _speed_px(clip: Clip, frame: int, oid: str) -> float:
    """Centre displacement (px/frame) of object ``oid`` between neighbouring frames."""

    def centre(f: int) -> np.ndarray | None:
        if not 0 <= f < len(clip.tracks):
            return None
        for o in clip.tracks[f].objects:
            if o.id == oid:
                return np.array([o.cx, o.cy])
        return None

    a, b = centre(frame - 1), centre(frame + 1)
    return float("inf") if a is None or b is None else float(np.linalg.norm(b - a) / 2)


def test_files_exist_and_frames_match(clips: list[Clip]) -> None:
    for clip in clips:
        assert clip.video.stat().st_size > 10_000
        n = clip.meta["frames"]
        assert len(clip.tracks) == n
        assert [f.frame for f in clip.tracks] == list(range(n))
        assert clip.tracks[1].t_s == pytest.approx(1 / clip.fps, abs=1e-6)
        assert len(clip.masks) == n
        import cv2

        cap = cv2.VideoCapture(str(clip.video))
        assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == n
        assert (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (640, 360)


def test_layouts_break_then_scatter(clips: list[Clip]) -> None:
    rack, scatter = clips
    assert rack.meta["layout"] == "rack" and scatter.meta["layout"] == "scatter"
    # A break: 16 balls on the table and a flurry of collisions right after the first shot.
    assert len(rack.tracks[0].objects) == 16
    first_shot = next(e for e in rack.events if e.type is EventType.SHOT)
    early = [e for e in rack.events if e.type is EventType.COLLISION and e.t_s < first_shot.t_s + 1.0]
    assert len(early) >= 5
    assert 5 <= len(scatter.tracks[0].objects) <= 16


def test_mask_centroid_matches_track_centre(clips: list[Clip]) -> None:
    """Rendered ball centre vs track centre: mask centroids within a fraction of a pixel."""
    errors_still, errors_moving = [], []
    for clip in clips:
        for fr in clip.tracks[::3]:
            objs = {o.id: o for o in fr.objects}
            for m in clip.masks[fr.frame]:
                o = objs[m.id]
                assert o.r is not None
                if m.area < 0.95 * math.pi * o.r**2:  # cut by the cue or the image edge
                    continue
                ys, xs = np.nonzero(m.box)
                err = math.hypot(xs.mean() + m.x - o.cx, ys.mean() + m.y - o.cy)
                (errors_still if _speed_px(clip, fr.frame, o.id) < 0.05 else errors_moving).append(err)
    assert len(errors_still) > 500 and len(errors_moving) > 50
    assert max(errors_still) < 0.3
    assert float(np.percentile(errors_moving, 95)) < 1.0


def test_mask_area_is_disc_area_for_still_balls(clips: list[Clip]) -> None:
    for clip in clips:
        objs = {o.id: o for o in clip.tracks[0].objects}
        masks = clip.masks[0]
        assert {m.id for m in masks} == set(objs)
        for m in masks:
            r = objs[m.id].r
            assert r is not None
            assert m.area == pytest.approx(math.pi * r * r, rel=0.08)


def test_break_speed_balls_are_masked_as_their_streak(clips: list[Clip]) -> None:
    """A ball moving more than its diameter a frame is a faint streak: it still has a mask.

    Without one it had no YOLO box and no identity crop, so the detector never learned a
    break-speed ball. The mask covers the streak (no less than half a disc) and holds the centre.
    """
    fast = 0
    for clip in clips:
        for fr in clip.tracks:
            masks = {m.id: m for m in clip.masks[fr.frame]}
            for o in fr.objects:
                assert o.r is not None
                speed = _speed_px(clip, fr.frame, o.id)
                if speed < 4.0 * o.r or math.isinf(speed):  # two diameters a frame
                    continue
                fast += 1
                m = masks.get(o.id)
                assert m is not None, f"{clip.name} frame {fr.frame}: {o.label} at break speed has no mask"
                assert m.area > 0.5 * math.pi * o.r**2
                bh, bw = m.box.shape
                assert m.x - o.r <= o.cx <= m.x + bw + o.r and m.y - o.r <= o.cy <= m.y + bh + o.r
    assert fast >= 3


def test_video_shows_balls_where_tracks_say(clips: list[Clip]) -> None:
    """Pixels at a ball's first position change once it has rolled away; felt does not."""
    for clip in clips:
        last = len(clip.tracks) - 1
        img = clip.frames({0, last})
        start = {o.id: o for o in clip.tracks[0].objects}
        end = {o.id: o for o in clip.tracks[last].objects}
        # Starting spots that no ball covers at the end.
        vacated = [
            o
            for o in start.values()
            if all(math.hypot(e.cx - o.cx, e.cy - o.cy) > 2.5 * (o.r or 1) for e in end.values())
        ]
        assert vacated, "at least one ball must leave its starting spot"
        for o in vacated:
            before = disc_mean(img[0], o.cx, o.cy, 0.5 * (o.r or 1))
            after = disc_mean(img[last], o.cx, o.cy, 0.5 * (o.r or 1))
            assert np.abs(before - after).mean() > 12
        # A felt spot far from every ball in both frames stays the same colour.
        felt = clip.h.to_image(np.array([clip.calibration.length_m * 0.5, clip.calibration.width_m * 0.5]))
        occupied = [np.array([o.cx, o.cy]) for o in (*start.values(), *end.values())]
        if all(np.linalg.norm(p - felt) > 30 for p in occupied):
            diff = np.abs(disc_mean(img[0], *felt, 6) - disc_mean(img[last], *felt, 6)).mean()
            assert diff < 8


def test_pocketed_balls_vanish_and_stay_down(clips: list[Clip]) -> None:
    pots = [(clip, e) for clip in clips for e in clip.events if e.type is EventType.POT]
    assert pots, "the fixture's seed must pot at least one ball"
    for clip, ev in pots:
        ball = ev.balls[0]
        next_shot = min(
            (e.frame for e in clip.events if e.type is EventType.SHOT and e.t_s > ev.t_s),
            default=len(clip.tracks),
        )
        before = {o.label for o in clip.tracks[max(ev.frame - 2, 0)].objects}
        assert ball in before
        for f in range(ev.frame, next_shot if ball == "cue_ball" else len(clip.tracks)):
            assert ball not in {o.label for o in clip.tracks[f].objects}, f"{ball} visible at frame {f}"
            assert ball not in {m.label for m in clip.masks[f]}


def test_pot_happens_at_its_pocket(clips: list[Clip]) -> None:
    for clip in clips:
        pockets = {p.id: p for p in clip.calibration.resolved_pockets()}
        for ev in clip.events:
            if ev.type is EventType.POT:
                assert ev.position_m is not None and ev.pocket is not None
                pocket_xy = clip.h.to_table(np.array(pockets[ev.pocket].px))
                assert np.linalg.norm(np.array(ev.position_m) - pocket_xy) < pockets[ev.pocket].radius_m + 0.01


def test_rebounds_happen_at_the_cushion_and_reverse_motion(clips: list[Clip]) -> None:
    checked = 0
    for clip in clips:
        cal = clip.calibration
        R, L, W = cal.ball_radius_m, cal.length_m, cal.width_m
        rail = {"top": (1, R, 1), "bottom": (1, W - R, -1), "left": (0, R, 1), "right": (0, L - R, -1)}
        for ev in clip.events:
            if ev.type is not EventType.REBOUND or ev.cushion not in rail:
                continue
            axis, line, inward = rail[ev.cushion]
            assert ev.position_m is not None
            assert abs(ev.position_m[axis] - line) < 0.002, ev.to_json()
            # From the tracks: moving towards the cushion before, away after.
            others = [e for e in clip.events if ev.balls[0] in e.balls and e is not ev and abs(e.t_s - ev.t_s) < 0.15]
            if others or ev.speed_mps is None or ev.speed_mps < 0.4:
                continue
            f0, f1 = ev.frame - 3, ev.frame + 2
            if f0 < 0 or f1 >= len(clip.tracks):
                continue
            p_before, p_at, p_after = (clip.positions_m(f).get(ev.balls[0]) for f in (f0, ev.frame - 1, f1))
            if p_before is None or p_at is None or p_after is None:
                continue
            assert (p_at[axis] - p_before[axis]) * inward < 0
            assert (p_after[axis] - p_at[axis]) * inward > 0
            checked += 1
    assert checked >= 3


def test_collisions_happen_at_contact_distance(clips: list[Clip]) -> None:
    checked = 0
    for clip in clips:
        two_r = 2 * clip.calibration.ball_radius_m
        for ev in clip.events:
            if ev.type is not EventType.COLLISION:
                continue
            a, b = ev.balls
            f = ev.t_s * clip.fps
            lo, hi = math.floor(f), math.ceil(f)
            if hi >= len(clip.tracks) or lo < 0:
                continue
            pl, ph = clip.positions_m(lo), clip.positions_m(hi)
            if not all(k in p for p in (pl, ph) for k in (a, b)):
                continue
            w = f - lo
            pa, pb = (1 - w) * pl[a] + w * ph[a], (1 - w) * pl[b] + w * ph[b]
            # Linear interpolation of curved motion: allow the distance a ball covers in a frame.
            slack = (ev.speed_mps or 0) / clip.fps + 0.003
            assert abs(np.linalg.norm(pa - pb) - two_r) < slack, ev.to_json()
            checked += 1
    assert checked >= 20


def test_shot_end_summaries_agree_with_events(clips: list[Clip]) -> None:
    for clip in clips:
        shots = [e for e in clip.events if e.type is EventType.SHOT]
        ends = [e for e in clip.events if e.type is EventType.SHOT_END]
        assert len(shots) == len(ends) == 2
        for shot, end in zip(shots, ends, strict=True):
            inside = [e for e in clip.events if shot.t_s <= e.t_s <= end.t_s and e.seq < end.seq]
            assert end.summary is not None
            assert end.summary.potted == tuple(e.balls[0] for e in inside if e.type is EventType.POT)
            assert end.summary.scratch == ("cue_ball" in end.summary.potted)
            assert end.summary.cushions == sum(1 for e in inside if e.type is EventType.REBOUND)
            first = next((e for e in inside if e.type is EventType.COLLISION and "cue_ball" in e.balls), None)
            assert end.summary.first_contact == (first.balls[1] if first else None)
            assert end.summary.duration_s == pytest.approx(end.t_s - shot.t_s, abs=1e-3)
        seqs = [e.seq for e in clip.events]
        assert seqs == list(range(1, len(seqs) + 1))
        assert len({e.id for e in clip.events}) == len(seqs)
        # frame = first frame at or after t (t is rounded to 0.1 ms in the JSON).
        assert all(-1e-2 <= e.frame - e.t_s * clip.fps < 1 + 1e-2 for e in clip.events)


def test_balls_rest_when_a_shot_ends(clips: list[Clip]) -> None:
    for clip in clips:
        for end in (e for e in clip.events if e.type is EventType.SHOT_END):
            f = end.frame
            if f + 5 >= len(clip.tracks):
                continue
            for o in clip.tracks[f].objects:
                assert _speed_px(clip, f + 2, o.id) < 0.01


def test_calibration_matches_the_rendered_table(clips: list[Clip]) -> None:
    """Corners, pockets and felt are where the calibration file says."""
    for clip in clips:
        cal = clip.calibration
        L, W = cal.length_m, cal.width_m
        assert np.allclose(clip.h.to_image([[0, 0], [L, 0], [L, W], [0, W]]), cal.corners_px, atol=1e-6)
        img = clip.frames({0})[0]
        for pocket in cal.resolved_pockets():
            assert disc_mean(img, *pocket.px, 3).max() < 45, pocket.id
        felt = disc_mean(img, *clip.h.to_image(np.array([0.06, 0.06])), 2)
        rail = disc_mean(img, *clip.h.to_image(np.array([L * 0.25, -0.085])), 2)
        # Felt just inside the corner is felt-coloured, not pocket-black; the rail is wood (R > B).
        assert felt.max() > 50
        assert rail[0] > rail[2] + 15


def test_yolo_dataset_labels_match_masks(sim_dir: Path, clips: list[Clip]) -> None:
    root = sim_dir / "yolo"
    data = yaml.safe_load((root / "data.yaml").read_text())
    assert list(data["names"].values()) == list(CLASS_NAMES)
    train = sorted((root / "labels" / "train").glob("*.txt"))
    val = sorted((root / "labels" / "val").glob("*.txt"))
    assert train and val
    assert all(p.name.startswith("clip_000") for p in train) and all(p.name.startswith("clip_001") for p in val)
    label_file = train[0]
    frame = int(label_file.stem.split("_")[-1])
    rows = [list(map(float, line.split())) for line in label_file.read_text().splitlines()]
    assert sum(1 for r in rows if r[0] == CLASS_INDEX["pocket"]) == 6
    boxes = {int(r[0]): r[1:] for r in rows if r[0] != CLASS_INDEX["pocket"]}
    for m in clips[0].masks[frame]:
        cx, _cy, _w, h = boxes[CLASS_INDEX[m.label]]
        bh, bw = m.box.shape
        assert cx * 640 == pytest.approx(m.x + bw / 2, abs=0.01)
        assert h * 360 == pytest.approx(bh, abs=0.01)
    assert (root / "images" / "train" / f"{label_file.stem}.jpg").stat().st_size > 5000


def test_ultralytics_reads_the_dataset(sim_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The dataset is ready for ultralytics: its own checker and loader accept every label."""
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path))  # keep ultralytics out of ~/.config
    from ultralytics.data import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    data = check_det_dataset(str(sim_dir / "yolo" / "data.yaml"))
    assert data["nc"] == len(CLASS_NAMES)
    for split in ("train", "val"):
        ds = YOLODataset(img_path=data[split], data=data, task="detect", imgsz=320, augment=False)
        n_images = len(list((sim_dir / "yolo" / "images" / split).glob("*.jpg")))
        assert len(ds.labels) == n_images
        assert all(len(lb["cls"]) >= 6 for lb in ds.labels)  # six pockets at least, plus balls
