"""Export stage round trips on CPU: SAM2 image encoder and YOLO to ONNX, checked against torch.

Small random SAM2.1 (256 px, reduced hiera-tiny) and a random yolov8n with our 17 classes,
both saved as checkpoints and exported by the real ``edge-detsam2 export`` command.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

import cv2  # noqa: E402
import yaml  # noqa: E402
from yolo_helpers import make_random_yolo  # noqa: E402

from edge_detsam2.artifacts import ArtifactError, load_verified  # noqa: E402
from edge_detsam2.cli import main  # noqa: E402
from edge_detsam2.tracker.encoders import OnnxEncoder  # noqa: E402
from edge_detsam2.tracker.model import ModelSpec, build_model, save_checkpoint, small_overrides  # noqa: E402
from edge_detsam2.tracker.session import StreamingSession  # noqa: E402
from edge_detsam2.tracks import read_tracks  # noqa: E402

CONFIG = "configs/sam2.1/sam2.1_hiera_t.yaml"
OVERRIDES = list(small_overrides(256))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    model = build_model(ModelSpec(CONFIG, None, tuple(OVERRIDES)))
    with torch.no_grad():  # objects present, so tracked masks are not trivially empty
        model.sam_mask_decoder.pred_obj_score_head.layers[-1].bias.fill_(10.0)
    save_checkpoint(model, d / "sam2.pt")
    make_random_yolo(d / "yolo.pt", cls_bias=3.0)
    cfg = {
        "perception": {
            "detector": {"weights": "yolo.pt", "imgsz": 320, "runtime": "onnx"},
            "sam2": {"checkpoint": "sam2.pt", "overrides": OVERRIDES, "encoder": "onnxruntime"},
        },
        "export": {"cache_dir": "cache"},
    }
    (d / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["export", "--config", str(d / "cfg.yaml")]) == 0
    return {"dir": d, "report": json.loads(out.getvalue()), "cfg": d / "cfg.yaml"}


def sidecar(path: str) -> dict[str, Any]:
    return dict(json.loads(Path(path + ".json").read_text()))


def test_encoder_onnx_matches_torch_and_describes_itself(exported: dict[str, Any]) -> None:
    rep = exported["report"]["sam2_image_encoder"]
    for level, p in rep["onnx_parity"].items():
        assert p["max_abs"] < 1e-4 * max(1.0, p["ref_abs_max"]), level
        assert p["cosine"] > 0.99999, level
    meta = sidecar(rep["onnx"])
    assert meta["kind"] == "sam2_image_encoder" and meta["image_size"] == 256 and meta["precision"] == "fp32"
    assert meta["opset"] >= 17 and meta["versions"]["onnxruntime"] and meta["versions"]["torch"]
    assert meta["outputs"]["fpn2"] == [1, 256, 16, 16]
    assert Path(rep["onnx"] + ".pos.safetensors").is_file()  # positional encodings saved once


def frames_and_box(sim_dir: Path, n: int) -> tuple[list[np.ndarray], np.ndarray]:
    cap = cv2.VideoCapture(str(sim_dir / "clip_000.mp4"))
    frames = []
    for _ in range(n):
        ok, img = cap.read()
        assert ok
        frames.append(np.ascontiguousarray(img[..., ::-1]))
    first = next(iter(read_tracks(sim_dir / "clip_000.tracks.jsonl")))
    cue = next(o for o in first.objects if o.label == "cue_ball")
    assert cue.bbox is not None
    return frames, np.array(cue.bbox) + [-2.0, -2.0, 2.0, 2.0]


def test_tracked_masks_with_onnx_encoder_match_torch(exported: dict[str, Any], sim_dir: Path) -> None:
    d = exported["dir"]
    model = build_model(ModelSpec(CONFIG, d / "sam2.pt", tuple(OVERRIDES)))
    onnx = OnnxEncoder(Path(exported["report"]["sam2_image_encoder"]["onnx"]), torch.device("cpu"))
    assert onnx.provider == "CPUExecutionProvider"
    frames, box = frames_and_box(sim_dir, 24)
    ref, got = StreamingSession(model), StreamingSession(model, encoder=onnx)
    ious = []
    for i, frame in enumerate(frames):
        if i == 0:
            ref.add_box(0, box, "cue_ball")
            got.add_box(0, box, "cue_ball")
        a, b = ref.step(frame), got.step(frame)
        ma, mb = a.mask_logits > 0, b.mask_logits > 0
        assert ma.any()
        ious.append((ma & mb).sum() / max((ma | mb).sum(), 1))
        assert np.abs(a.mask_logits - b.mask_logits).max() < 1e-2
    assert min(ious) > 0.99, ious


def test_yolo_onnx_boxes_match_pt(exported: dict[str, Any]) -> None:
    par = exported["report"]["yolo"]["parity"]
    # Random weights tie every score (NMS order then decides), so compare the network itself:
    # boxes and class scores of every anchor before NMS. The .pt is stored in fp16 by ultralytics.
    assert par["raw_max_abs"] < 1e-3 * max(1.0, par["raw_abs_max"])
    assert par["boxes_pt"] > 0 and par["max_score_error"] < 1e-3
    meta = sidecar(exported["report"]["yolo"]["onnx"])
    assert meta["kind"] == "yolo" and meta["image_size"] == 320


def test_daemon_runs_on_exported_artifacts(exported: dict[str, Any], sim_dir: Path, tmp_path: Path) -> None:
    cfg = yaml.safe_load(exported["cfg"].read_text())
    d = exported["dir"]
    cfg["perception"]["detector"]["weights"] = str(d / "yolo.pt")
    cfg["perception"]["sam2"]["checkpoint"] = str(d / "sam2.pt")
    cfg["perception"]["tracker"] = {"detect_confidence": 0.3, "new_object_confidence": 0.3, "max_objects": 2}
    cfg["export"]["cache_dir"] = str(d / "cache")
    cfg["table"] = {"id": "t1", "calibration": str(sim_dir / "clip_000.table.yaml")}
    cfg["mqtt"] = {"enabled": False}
    cfg["daemon"] = {"state_dir": str(tmp_path / "state")}
    cfg["outputs"] = {"tracks_jsonl": str(tmp_path / "tracks.jsonl")}
    frames, _ = frames_and_box(sim_dir, 8)
    video = tmp_path / "short.mp4"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (640, 360))
    for f in frames:
        w.write(np.ascontiguousarray(f[..., ::-1]))
    w.release()
    cfg["source"] = {"uri": str(video)}
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    done = subprocess.run(
        [sys.executable, "-m", "edge_detsam2", "run", "--config", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "ONNX Runtime CPUExecutionProvider" in done.stderr
    assert len((tmp_path / "tracks.jsonl").read_text().splitlines()) == 8


def test_mismatching_missing_and_corrupt_artifacts_are_refused(exported: dict[str, Any], tmp_path: Path) -> None:
    src = Path(exported["report"]["sam2_image_encoder"]["onnx"])
    art = tmp_path / src.name
    for suffix in ("", ".json", ".pos.safetensors"):
        shutil.copy(Path(str(src) + suffix), Path(str(art) + suffix))
    meta = sidecar(str(art))
    kw = {"kind": "sam2_image_encoder", "image_size": 256, "rebuild": "edge-detsam2 export --config X"}
    load_verified(art, source_hash=meta["source_hash"], **kw)  # type: ignore[arg-type]
    with pytest.raises(ArtifactError, match="built from other weights.*edge-detsam2 export --config X"):
        load_verified(art, source_hash="0" * 64, **kw)  # type: ignore[arg-type]
    with pytest.raises(ArtifactError, match="no exported sam2_image_encoder.*edge-detsam2 export"):
        load_verified(tmp_path / "missing.onnx", source_hash=meta["source_hash"], **kw)  # type: ignore[arg-type]
    art.write_bytes(art.read_bytes()[:1000])  # truncated
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        load_verified(art, source_hash=meta["source_hash"], **kw)  # type: ignore[arg-type]
    with pytest.raises(ArtifactError, match="ONNX Runtime cannot load it"):
        OnnxEncoder(art, torch.device("cpu"))


def test_daemon_refuses_artifact_of_other_weights(exported: dict[str, Any], tmp_path: Path) -> None:
    d = exported["dir"]
    torch.manual_seed(1)
    other = build_model(ModelSpec(CONFIG, None, tuple(OVERRIDES)))
    save_checkpoint(other, tmp_path / "other.pt")
    cfg = yaml.safe_load(exported["cfg"].read_text())
    cfg["perception"]["detector"]["weights"] = str(d / "yolo.pt")
    cfg["perception"]["sam2"]["checkpoint"] = str(tmp_path / "other.pt")
    cfg["export"]["cache_dir"] = str(d / "cache")
    cfg["source"] = {"uri": str(tmp_path / "x.mp4")}
    from edge_detsam2.config import AppConfig
    from edge_detsam2.perception import Sam2Perception

    app = AppConfig.model_validate(cfg)
    with pytest.raises(ArtifactError, match="no exported sam2_image_encoder.*edge-detsam2 export"):
        Sam2Perception(app.perception, app.export)


def test_engine_and_half_fail_clearly_without_gpu(exported: dict[str, Any]) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: engines can be built here")
    cmd = [sys.executable, "-m", "edge_detsam2", "export", "--config", str(exported["cfg"])]
    done = subprocess.run([*cmd, "--format", "engine"], capture_output=True, text=True)
    assert done.returncode == 2 and "--format engine needs" in done.stderr and "--format onnx" in done.stderr
    done = subprocess.run([*cmd, "--half"], capture_output=True, text=True)
    assert done.returncode == 2 and "--device cuda" in done.stderr


def test_export_ships_in_the_wheel(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(root),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    import zipfile

    (wheel,) = tmp_path.glob("edge_detsam2-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for mod in ("stage", "sam2_encoder", "tensorrt_build", "yolo", "__init__"):
        assert f"edge_detsam2/export/{mod}.py" in names
    assert "edge_detsam2/daemon/daemon.py" in names
