"""A private mosquitto on a free local port: the demo's broker, and the tests' and benchmarks'.

``LocalBroker(workdir).start()`` writes a config (listener on 127.0.0.1 only, anonymous or
with a password file, optional persistence), starts mosquitto and waits until it accepts
connections. ``kill()`` then ``start()`` again keeps the port, so clients reconnect to the
same address, as they would to a restarted broker.
"""

from __future__ import annotations

import getpass
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from edge_detsam2.errors import EdgeDetSam2Error, UsageError


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def host_port(value: str, flag: str, example: str) -> tuple[str, int]:
    """``host:port`` of a flag (``--broker``, ``--bind``), or a UsageError naming it."""
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{flag} {value!r}: expected host:port, e.g. {example}")
    return host.strip("[]"), int(port)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalBroker:
    """A mosquitto process on a private port of 127.0.0.1."""

    def __init__(self, workdir: Path, *, password_file: Path | None = None, persistence: bool = True) -> None:
        exe = mosquitto_path()
        if exe is None:
            raise UsageError("no MQTT broker: install mosquitto (apt install mosquitto) or pass --broker host:port")
        self.exe, self.port, self.dir = exe, free_port(), workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"listener {self.port} 127.0.0.1",
            f"user {getpass.getuser()}",  # as root, mosquitto would drop to 'mosquitto' and lose our files
            f"log_dest file {self.dir}/mosquitto.log",
        ]
        if persistence:
            lines += ["persistence true", f"persistence_location {self.dir}/", "autosave_interval 1"]
        if password_file is not None:
            lines += ["allow_anonymous false", f"password_file {password_file}"]
        else:
            lines.append("allow_anonymous true")
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                    raise EdgeDetSam2Error(f"mosquitto exited: {err.strip() or 'see ' + str(self.dir)}") from None
                time.sleep(0.05)
        self.kill()
        raise EdgeDetSam2Error(f"mosquitto did not accept connections on port {self.port} within {timeout_s:.0f} s")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None
