"""Daemon test helpers: a real mosquitto broker per test, a paho subscriber, daemon configs.

mosquitto is apt-installed by .ci/install; the tests fail (not skip) without it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from edge_detsam2.cli import main
from edge_detsam2.daemon.broker import LocalBroker, free_port

__all__ = ["Broker", "LocalBroker", "Subscriber", "free_port", "read_jsonl", "short_video", "spawn", "write_config"]

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
PREFIX = "edge-detsam2"


class Broker(LocalBroker):
    """A mosquitto process on a private port with persistence; ``kill`` and ``start`` again keep the port."""

    def __init__(self, workdir: Path, *, password_file: Path | None = None) -> None:
        assert Path(MOSQUITTO).exists(), "mosquitto is not installed: run bash .ci/install"
        super().__init__(workdir, password_file=password_file)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker")
    b.start()
    yield b
    b.kill()


def wait_until(pred: Callable[[], bool], timeout: float) -> bool:
    """Poll ``pred`` every 50 ms until it holds or ``timeout`` (s) passes; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


class Subscriber:
    """Collects every message under the prefix; persistent session, QoS 1, resubscribes on connect."""

    def __init__(self, port: int, *, client_id: str = "test-subscriber") -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, str, bool]] = []  # topic, payload, retained
        self.lock = threading.Lock()
        self.connected = threading.Event()
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
        c.reconnect_delay_set(min_delay=1, max_delay=1)

        def on_connect(client: Any, userdata: Any, flags: Any, rc: Any, props: Any) -> None:
            client.subscribe(f"{PREFIX}/#", qos=1)
            self.connected.set()

        def on_message(client: Any, userdata: Any, msg: Any) -> None:
            with self.lock:
                self.messages.append((msg.topic, msg.payload.decode(), bool(msg.retain)))

        c.on_connect = on_connect
        c.on_message = on_message
        c.connect("127.0.0.1", port, keepalive=5)
        c.loop_start()
        assert self.connected.wait(10), "subscriber could not connect"
        time.sleep(0.2)  # SUBACK
        self.client = c

    def on(self, suffix: str) -> list[str]:
        with self.lock:
            return [p for t, p, _ in self.messages if t.endswith(suffix)]

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(p) for p in self.on("/events")]

    def wait_for(self, pred: Callable[[], bool], timeout: float = 30.0) -> bool:
        return wait_until(pred, timeout)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def subscriber_factory() -> Iterator[Callable[[int], Subscriber]]:
    subs: list[Subscriber] = []

    def make(port: int) -> Subscriber:
        s = Subscriber(port)
        subs.append(s)
        return s

    yield make
    for s in subs:
        s.close()


@pytest.fixture(scope="session")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5-shot clip (about half a minute of video) for runs paced in real time."""
    out = tmp_path_factory.mktemp("long_clip")
    args = ["simulate", str(out), "--clips", "1", "--shots", "5", "--width", "320", "--height", "180"]
    assert main([*args, "--seed", "21", "--layout", "scatter"]) == 0
    return out


def write_config(path: Path, clip_dir: Path, clip: str = "clip_000", **sections: dict[str, Any]) -> Path:
    """A daemon config replaying a simulated clip's ground-truth tracks beside its video."""
    cfg: dict[str, Any] = {
        "table": {"id": "t1", "calibration": str(clip_dir / f"{clip}.table.yaml")},
        "source": {"uri": str(clip_dir / f"{clip}.mp4")},
        "perception": {"backend": "tracks", "tracks_file": str(clip_dir / f"{clip}.tracks.jsonl")},
        "mqtt": {"enabled": False},
        "daemon": {"state_dir": str(path.parent / "state")},
    }
    for key, value in sections.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    path.write_text(yaml.safe_dump(cfg))
    return path


def daemon_cmd(config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "edge_detsam2", "--log-level", "INFO", "run", "--config", str(config), *extra]


def spawn(config: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        daemon_cmd(config, *extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def short_video(src: Path, dst: Path, n: int) -> Path:
    """The first ``n`` frames of a video, as mp4."""
    import cv2

    cap = cv2.VideoCapture(str(src))
    out = None
    for _ in range(n):
        ok, img = cap.read()
        assert ok
        if out is None:
            out = cv2.VideoWriter(str(dst), cv2.VideoWriter_fourcc(*"mp4v"), 30.0, (img.shape[1], img.shape[0]))
        out.write(img)
    assert out is not None
    out.release()
    return dst
