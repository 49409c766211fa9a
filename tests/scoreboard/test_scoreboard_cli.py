"""The scoreboard command's bad input: one line naming the flag or key, exit 2, no traceback."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import yaml

CMD = [sys.executable, "-m", "edge_detsam2", "scoreboard"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=60)


def test_bad_bind_busy_port_and_bad_config_exit_2_with_one_line(tmp_path: Path) -> None:
    done = run("--bind", "localhost")
    assert done.returncode == 2 and "--bind 'localhost': expected host:port" in done.stderr
    done = run("--broker", "nohost")
    assert done.returncode == 2 and "--broker 'nohost': expected host:port" in done.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run("--bind", f"127.0.0.1:{port}", "--broker", "127.0.0.1:1")
    assert done.returncode == 2 and f"--bind 127.0.0.1:{port}: cannot listen" in done.stderr, done.stderr
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"scoreboard": {"bind": "everywhere"}}))
    done = run("--config", str(cfg))
    assert done.returncode == 2 and "scoreboard.bind" in done.stderr
    for d in (done,):
        assert "Traceback" not in d.stderr and len(d.stderr.strip().splitlines()) <= 3


def test_a_refused_login_exits_2_naming_the_keys(tmp_path: Path) -> None:
    from daemon_helpers import Broker, free_port

    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "scoreboard", "right"], check=True)
    broker = Broker(tmp_path / "broker", password_file=pw)
    broker.start()
    try:
        cfg = tmp_path / "c.yaml"
        mqtt = {"host": "127.0.0.1", "port": broker.port, "username": "scoreboard", "password": "wrong"}
        cfg.write_text(yaml.safe_dump({"mqtt": mqtt, "scoreboard": {"bind": f"127.0.0.1:{free_port()}"}}))
        done = run("--config", str(cfg))
    finally:
        broker.kill()
    assert done.returncode == 2 and "refused the scoreboard (Not authorized)" in done.stderr, done.stderr
    assert "mqtt.username/password" in done.stderr and "Traceback" not in done.stderr
