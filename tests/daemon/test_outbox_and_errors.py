"""Outbox durability and numbering; the run command's errors and exit codes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from daemon_helpers import daemon_cmd, read_jsonl, write_config

from edge_detsam2.daemon.outbox import Outbox, OutboxError
from edge_detsam2.events.types import Event, EventType
from edge_detsam2.sources import redact


def event(seq: int) -> Event:
    return Event(EventType.SHOT, 1.0 + seq, 30 + seq, ("cue_ball",), table="t1", id=f"ID{seq:04d}", seq=seq)


def test_outbox_keeps_order_acks_and_seq_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "t1.outbox.sqlite"
    box = Outbox(path, "t1")
    assert box.last_seq() == 0
    for s in (1, 2, 3):
        box.put(event(s), capture_wall=100.0 + s)
    box.ack(2)
    assert [r[0] for r in box.pending()] == [1, 3]
    assert [r[0] for r in box.pending(after_seq=1)] == [3]
    box.close()
    again = Outbox(path, "t1")  # a restart: pending rows and the counter survive
    assert again.last_seq() == 3 and again.count() == 2
    _, payload, wall = again.pending()[0]
    assert Event.from_dict(json.loads(payload)) == event(1) and wall == 101.0
    again.ack(1)
    again.ack(3)
    again.record_seq(4)  # numbering continues even when nothing is pending
    again.close()
    assert Outbox(path, "t1").last_seq() == 4


def test_outbox_refuses_duplicates_and_other_tables(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite", "t1")
    box.put(event(1), 0.0)
    with pytest.raises(OutboxError, match="seq 1"):
        box.put(event(1), 0.0)
    box.close()
    with pytest.raises(OutboxError, match="belongs to table 't1'"):
        Outbox(tmp_path / "o.sqlite", "t2")


def test_redact_hides_stream_credentials() -> None:
    assert redact("rtsp://admin:hunter2@10.0.0.5:554/live") == "rtsp://***@10.0.0.5:554/live"
    assert redact("/videos/a.mp4") == "/videos/a.mp4"
    got = redact("http://10.0.0.5/videostream.cgi?user=admin&pwd=hunter2&res=720")
    assert got == "http://10.0.0.5/videostream.cgi?user=***&pwd=***&res=720"
    assert "hunter2" not in redact("rtsp://cam/live?channel=1&password=hunter2")


def test_check_config_masks_camera_credentials(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edge_detsam2.cli import main

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("source:\n  uri: rtsp://admin:hunter2@cam/live?token=s3cret&channel=2\n")
    assert main(["check-config", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "hunter2" not in out and "s3cret" not in out and "channel=2" in out


def run(cfg: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(daemon_cmd(cfg, *extra), capture_output=True, text=True, timeout=120)


def test_bad_config_key_exit_2_with_path_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("table:\n  id: t1\nmqtt:\n  port: 99999\n  hots: x\n")
    done = run(cfg)
    assert done.returncode == 2
    assert "cfg.yaml:4: mqtt.port" in done.stderr
    assert "cfg.yaml:5: mqtt.hots" in done.stderr


def test_missing_source_and_calibration_exit_2(tmp_path: Path, sim_dir: Path) -> None:
    cfg = write_config(tmp_path / "cfg.yaml", sim_dir)
    done = run(cfg, "--source", str(tmp_path / "nope.mp4"))
    assert done.returncode == 2 and "no such file" in done.stderr and "--source" in done.stderr
    cfg.write_text("table: {id: t1}\nsource: {uri: x.mp4}\n")
    done = run(cfg)
    assert done.returncode == 2 and "table.calibration" in done.stderr


def test_unreadable_video_exit_1(tmp_path: Path, sim_dir: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00not a video" * 100)
    done = run(write_config(tmp_path / "cfg.yaml", sim_dir), "--source", str(junk))
    assert done.returncode == 1 and "cannot be decoded" in done.stderr


def test_missing_detector_weights_exit_2(tmp_path: Path, sim_dir: Path) -> None:
    cfg = write_config(tmp_path / "cfg.yaml", sim_dir, perception={"backend": "sam2", "detector": {"weights": None}})
    done = run(cfg)
    assert done.returncode == 2 and "perception.detector.weights" in done.stderr


def test_table_override_and_events_out_without_mqtt(tmp_path: Path, sim_dir: Path) -> None:
    cfg = write_config(tmp_path / "cfg.yaml", sim_dir, table={"calibration": "missing.yaml"})
    out = tmp_path / "ev.jsonl"
    done = run(cfg, "--table", str(sim_dir / "clip_000.table.yaml"), "--events-out", str(out))
    assert done.returncode == 0, done.stderr
    first = read_jsonl(out)
    assert first and [e["seq"] for e in first] == list(range(1, len(first) + 1))
    done = run(cfg, "--table", str(sim_dir / "clip_000.table.yaml"), "--events-out", str(out))
    both = read_jsonl(out)  # appended; seq continues across runs without MQTT too
    assert [e["seq"] for e in both] == list(range(1, 2 * len(first) + 1))


def test_slow_sink_drops_instead_of_blocking() -> None:
    import time

    from edge_detsam2.daemon.sinks import ThreadSink

    handled: list[int] = []
    sink = ThreadSink("slow", lambda x: (time.sleep(0.05), handled.append(x)), lambda: None, maxsize=4)
    t0 = time.perf_counter()
    for i in range(100):
        sink.offer(i)
    assert time.perf_counter() - t0 < 0.5  # offer never waits for the sink
    sink.close()
    assert sink.dropped > 80 and len(handled) + sink.dropped == 100
    assert handled == sorted(handled)


def test_video_that_breaks_mid_file_is_reported_and_exits_1(tmp_path: Path, sim_dir: Path) -> None:
    """A file whose container promises more frames than decode is not a clean end of file."""
    import cv2

    cap = cv2.VideoCapture(str(sim_dir / "clip_000.mp4"))
    intact = tmp_path / "intact.avi"
    writer = cv2.VideoWriter(str(intact), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 360))
    n = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        writer.write(img)
        n += 1
    writer.release()
    cfg = write_config(tmp_path / "cfg.yaml", sim_dir)
    done = run(cfg, "--source", str(intact))
    assert done.returncode == 0, done.stderr  # an intact file: no false alarm
    broken = tmp_path / "broken.avi"
    data = intact.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # the header still says n frames
    done = run(cfg, "--source", str(broken))
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "broken.avi" in last and f"of its {n} frames could not be decoded" in last
    assert "could not be decoded; " in done.stderr and "frames lost" in done.stderr  # the warning names the frame
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("flag", [None, "DEBUG"])
def test_log_level_flag_wins_over_the_config(tmp_path: Path, sim_dir: Path, flag: str | None) -> None:
    cfg = write_config(tmp_path / "cfg.yaml", sim_dir, logging={"level": "WARNING"})
    argv = daemon_cmd(cfg)
    argv.remove("INFO")
    argv.remove("--log-level")
    if flag:
        argv[argv.index("run") : argv.index("run")] = ["--log-level", flag]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # the config asks for WARNING: INFO lines appear only when --log-level asks for more
    assert ("INFO edge_detsam2" in done.stderr) == (flag is not None)
