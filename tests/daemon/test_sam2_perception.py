"""The daemon with its real perception: YOLO (random yolov8n) prompting a small random SAM2.

Random weights cannot find balls, so this checks the wiring, not accuracy: every frame goes
through detector and tracker, objects are created from detections, and tracks come out in
the public format. Accuracy with trained models is measured by the benchmarks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from daemon_helpers import read_jsonl, short_video, write_config  # noqa: E402
from yolo_helpers import make_random_yolo  # noqa: E402

from edge_detsam2.cli import main  # noqa: E402
from edge_detsam2.tracker.model import ModelSpec, build_model, save_checkpoint, small_overrides  # noqa: E402

FRAMES = 12


def test_run_with_yolo_prompted_sam2_writes_tracks(tmp_path: Path, sim_dir: Path) -> None:
    torch.manual_seed(0)
    overrides = list(small_overrides(128))
    model = build_model(ModelSpec("configs/sam2.1/sam2.1_hiera_t.yaml", None, tuple(overrides)))
    with torch.no_grad():
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(10.0)
    ckpt = tmp_path / "sam2.pt"
    save_checkpoint(model, ckpt)
    yolo = make_random_yolo(tmp_path / "yolo.pt", cls_bias=3.0)
    video = short_video(sim_dir / "clip_000.mp4", tmp_path / "short.mp4", FRAMES)
    tracks = tmp_path / "tracks.jsonl"
    cfg = write_config(
        tmp_path / "cfg.yaml",
        sim_dir,
        source={"uri": str(video)},
        perception={
            "backend": "sam2",
            "detector": {"weights": str(yolo), "imgsz": 320, "allow_pickle": True},
            "sam2": {"checkpoint": str(ckpt), "overrides": overrides},
            "tracker": {"detect_interval": 5, "detect_confidence": 0.5, "new_object_confidence": 0.5, "max_objects": 3},
        },
        outputs={"tracks_jsonl": str(tracks)},
    )
    assert main(["run", "--config", str(cfg)]) == 0
    frames = read_jsonl(tracks)
    assert [f["frame"] for f in frames] == list(range(FRAMES))
    assert [round(f["t"], 4) for f in frames] == [round(i / 30.0, 4) for i in range(FRAMES)]
    objects = [o for f in frames for o in f["objects"]]
    assert objects, "detections on frame 0 should start tracked objects"
    assert len({o["id"] for o in objects}) <= 3  # max_objects
    for o in objects:
        assert o["label"] and 0 <= o["cx"] <= 640 and 0 <= o["cy"] <= 360 and o["r"] > 0
        assert len(o["bbox"]) == 4 and 0 <= o["score"] <= 1


def test_daemon_refuses_a_pickled_detector_unless_allowed(tmp_path: Path) -> None:
    """A .pt is a pickle: a crafted one runs code when loaded, so the daemon loads none by default."""
    import pytest

    from edge_detsam2.config import PerceptionSection
    from edge_detsam2.errors import ConfigError
    from edge_detsam2.perception import Sam2Perception

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (marker.write_text, ("code ran",))

    import pickle

    evil.write_bytes(pickle.dumps(Payload()))
    cfg = PerceptionSection.model_validate({"backend": "sam2", "detector": {"weights": str(evil)}})
    with pytest.raises(ConfigError, match=r"perception\.detector\.weights: .*evil\.pt is a pickled \.pt.*allow_pickle"):
        Sam2Perception(cfg)
    assert not marker.exists()
