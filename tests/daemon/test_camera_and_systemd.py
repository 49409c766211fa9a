"""Camera loss and reconnect on a live HTTP stream; sd_notify READY/STATUS/WATCHDOG/STOPPING."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from daemon_helpers import Broker, Subscriber, spawn, write_config
from mjpeg_server import MjpegCamera

from edge_detsam2.config import SourceSection, load_config
from edge_detsam2.daemon.daemon import Daemon
from edge_detsam2.daemon.notify import Notifier
from edge_detsam2.sources import Frame, SourceError
from edge_detsam2.sources.live import LiveSource
from edge_detsam2.tracks import TrackFrame


@pytest.fixture
def camera() -> Iterator[MjpegCamera]:
    cam = MjpegCamera()
    yield cam
    cam.close()


def test_stalled_camera_goes_offline_and_reconnects(
    tmp_path: Path,
    sim_dir: Path,
    camera: MjpegCamera,
    broker: Broker,
    subscriber_factory: Callable[[int], Subscriber],
) -> None:
    sub = subscriber_factory(broker.port)
    empty = tmp_path / "none.tracks.jsonl"
    empty.write_text("")
    cfg = write_config(
        tmp_path / "cfg.yaml",
        sim_dir,
        source={"uri": camera.url, "stall_timeout_s": 1.0, "reconnect_initial_s": 0.2, "open_timeout_s": 2.0},
        perception={"tracks_file": str(empty)},
        mqtt={"enabled": True, "host": "127.0.0.1", "port": broker.port, "stats_interval_s": 0.3},
    )
    proc = spawn(cfg)
    try:
        assert sub.wait_for(lambda: sub.on("/status/camera")[-1:] == ["online"], timeout=30)
        camera.stall()
        assert sub.wait_for(lambda: sub.on("/status/camera")[-1:] == ["offline"], timeout=10)
        camera.resume()
        assert sub.wait_for(lambda: sub.on("/status/camera")[-1:] == ["online"], timeout=15)
        assert camera.connections >= 2
        assert sub.wait_for(lambda: json.loads(sub.on("/stats")[-1])["camera_reconnects"] >= 1, timeout=5)
        frames_before = json.loads(sub.on("/stats")[-1])["frames"]
        assert sub.wait_for(lambda: json.loads(sub.on("/stats")[-1])["frames"] > frames_before + 5, timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        log, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, log
    assert "stream lost or stalled" in log and "reconnecting" in log


class NotifySocket:
    """What systemd would receive on NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            for line in data.decode().splitlines():
                self.messages.append((time.monotonic(), line))

    def lines(self, prefix: str, since: float = 0.0) -> list[str]:
        return [m for t, m in list(self.messages) if m.startswith(prefix) and t >= since]

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    ns = NotifySocket(tmp_path / "notify.sock")
    yield ns
    ns.close()


def test_sd_notify_ready_status_watchdog_stopping(tmp_path: Path, long_clip: Path, notify_socket: NotifySocket) -> None:
    cfg = write_config(tmp_path / "cfg.yaml", long_clip, source={"realtime": True})
    proc = spawn(cfg, env={"NOTIFY_SOCKET": notify_socket.path, "WATCHDOG_USEC": "400000"})
    deadline = time.monotonic() + 60
    while not notify_socket.lines("READY=1") and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    log, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, log
    assert notify_socket.lines("READY=1"), log
    assert any("loading models" in s for s in notify_socket.lines("STATUS="))
    assert len(notify_socket.lines("WATCHDOG=1")) >= 5  # every 0.2 s while frames flow
    assert notify_socket.lines("STOPPING=1")
    order = [m for _, m in notify_socket.messages if m in ("READY=1", "STOPPING=1")]
    assert order == ["READY=1", "STOPPING=1"]


class HangingPerception:
    """Real replay perception that hangs inside step() from frame 10 on (a stuck inference)."""

    def __init__(self) -> None:
        self.stage_ms: dict[str, float] = {}
        self.release = threading.Event()
        self.hung = threading.Event()

    def step(self, frame: Frame) -> TrackFrame:
        if frame.index >= 10:
            self.hung.set()
            self.release.wait()
        return TrackFrame(frame.index, frame.t_s, ())


def test_hung_inference_stops_watchdog_pings(
    tmp_path: Path, sim_dir: Path, notify_socket: NotifySocket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.path)
    monkeypatch.setenv("WATCHDOG_USEC", "300000")
    cfg = load_config(write_config(tmp_path / "cfg.yaml", sim_dir, daemon={"stall_s": 0.5}))
    perception = HangingPerception()
    daemon = Daemon(cfg, perception=perception, notifier=Notifier())
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(daemon.run()), daemon=True)
    runner.start()
    assert perception.hung.wait(30)
    time.sleep(1.0)  # stall_s passes
    quiet_from = time.monotonic()
    time.sleep(1.5)
    assert notify_socket.lines("WATCHDOG=1") and not notify_socket.lines("WATCHDOG=1", since=quiet_from)
    perception.release.set()  # progress again: pings resume
    resumed = time.monotonic()
    deadline = resumed + 5
    while not notify_socket.lines("WATCHDOG=1", since=resumed) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert notify_socket.lines("WATCHDOG=1", since=resumed)
    daemon.stop()
    runner.join(30)
    assert result == [0]


def test_notifier_is_silent_outside_systemd(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    n = Notifier()
    assert not n.enabled and n.watchdog_s is None
    n.ready("x")  # no socket: nothing happens, no error


def _live(camera: MjpegCamera, statuses: list[bool]) -> LiveSource:
    cfg = SourceSection(uri=camera.url, stall_timeout_s=1.0, reconnect_initial_s=0.1, open_timeout_s=2.0)
    return LiveSource(camera.url, cfg, statuses.append)


def test_an_exception_in_the_capture_loop_ends_in_a_reconnect(
    camera: MjpegCamera, caplog: pytest.LogCaptureFixture
) -> None:
    import cv2

    statuses: list[bool] = []
    source = _live(camera, statuses)
    real_read_loop = source._read_loop
    calls = [0]

    def failing_read_loop(cap: object) -> None:
        calls[0] += 1
        if calls[0] == 1:
            real_read_loop_once(cap)
            raise cv2.error("injected decoder failure")
        real_read_loop(cap)

    def real_read_loop_once(cap: object) -> None:  # a few good frames first, so the camera is online
        for _ in range(3):
            ok, _img = cap.read()  # type: ignore[attr-defined]
            assert ok
        source._set_online(True)

    source._read_loop = failing_read_loop  # type: ignore[method-assign]
    got = 0
    with caplog.at_level("WARNING"), contextlib.closing(source.frames()) as frames:
        deadline = time.monotonic() + 20
        for frame in frames:
            got += frame is not None and calls[0] >= 2
            if got >= 5 or time.monotonic() > deadline:
                break
        source.stop()
    assert got >= 5, "no frames after the injected failure"
    assert source.capture_errors == 1 and source.reconnects >= 1
    assert statuses[:3] == [True, False, True]  # online, offline on the failure, online again
    assert "capture failed (error: " in caplog.text and "injected decoder failure" in caplog.text


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the thread dies on purpose
def test_a_dead_capture_thread_is_an_error_not_idle_ticks(camera: MjpegCamera) -> None:
    statuses: list[bool] = []
    source = _live(camera, statuses)

    def dies() -> None:
        raise SystemExit  # what no except clause in the loop catches: the thread is gone

    source._run = dies  # type: ignore[method-assign]
    source._thread = threading.Thread(target=source._run, daemon=True)
    t0 = time.monotonic()
    with pytest.raises(SourceError, match="capture thread died"):
        for _ in source.frames():
            assert time.monotonic() - t0 < 5, "still ticking with a dead capture thread"
