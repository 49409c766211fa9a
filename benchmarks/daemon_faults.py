"""Daemon fault matrix: each fault injected into a real `edge-detsam2 run` on a soak clip.

A simulated clip is played at its frame rate (``source.realtime``) through the daemon with the
'tracks' perception (ground-truth tracks beside the video), publishing to a real mosquitto.
Each row injects one fault from outside, as it happens on a real box, then lets the daemon
(restarted where systemd's ``Restart=always`` would restart it) finish. Printed per fault:
events the daemon committed (the outbox's last ``seq``), events the scoreboard received (unique
ids), duplicates it de-duplicated, events lost, whether ``seq`` is contiguous, the daemon's exit
codes, and the time from the fault's end to the next event received.

    .venv/bin/python benchmarks/daemon_faults.py --out benchmarks/results/daemon_faults.json

Faults that need a hook inside the process (an ack the outbox cannot record, a capture thread
that dies) are covered by tests/daemon (test_mqtt_faults.py, test_camera_and_systemd.py).
"""

from __future__ import annotations

import argparse
import json
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from daemon_soak import Collector

from edge_detsam2.daemon.broker import LocalBroker
from edge_detsam2.sim.batch import SimulateOptions, simulate_clips

USER, RIGHT = "table", "right"


@dataclass
class Scenario:
    """One row: the daemon processes, the broker, and when the fault ended."""

    work: Path
    clip: Path
    broker: LocalBroker
    password: Path | None
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    codes: list[int] = field(default_factory=list)
    cleared: float | None = None

    def config(self, events_jsonl: str | None = None) -> Path:
        cfg: dict[str, Any] = {
            "table": {"id": "t1", "calibration": str(self.clip / "clip_000.table.yaml")},
            "source": {"uri": str(self.clip / "clip_000.mp4"), "realtime": True},
            "perception": {"backend": "tracks", "tracks_file": str(self.clip / "clip_000.tracks.jsonl")},
            "mqtt": {
                "enabled": True,
                "port": self.broker.port,
                "stats_interval_s": 1.0,
                "drain_timeout_s": 30,
                "connect_timeout_s": 2,
            },
            "daemon": {"state_dir": str(self.work / "state")},
            "outputs": {"events_jsonl": events_jsonl},
        }
        if self.password is not None:
            secret = self.work / "secret"
            secret.write_text(RIGHT)
            cfg["mqtt"] |= {"username": USER, "password_file": str(secret)}
        path = self.work / "cfg.yaml"
        path.write_text(yaml.safe_dump(cfg))
        return path

    def start(self, *, file_limit: int | None = None, events_jsonl: str | None = None) -> subprocess.Popen[bytes]:
        def limit() -> None:
            if file_limit is not None:
                resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

        cmd = [sys.executable, "-m", "edge_detsam2", "run", "--config", str(self.config(events_jsonl))]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=limit)
        self.procs.append(proc)
        return proc

    def wait(self, proc: subprocess.Popen[bytes], timeout: float = 300) -> int:
        _, err = proc.communicate(timeout=timeout)
        self.codes.append(proc.returncode)
        if proc.returncode not in (0, -9):
            lines = err.decode(errors="replace").strip().splitlines()
            print(f"    exit {proc.returncode}: {lines[-1] if lines else ''}", file=sys.stderr)
        return proc.returncode

    def kill_daemon(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        self.wait(proc)

    def clear(self) -> None:
        self.cleared = time.monotonic()


def set_password(path: Path, password: str) -> None:
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(path), USER, password], check=True)


# -- the faults (each returns once the daemon has finished) --------------------------------
def no_fault(s: Scenario) -> None:
    s.wait(s.start())


def broker_killed_15s(s: Scenario) -> None:
    proc = s.start()
    time.sleep(6)
    s.broker.kill()
    time.sleep(15)
    s.broker.start()
    s.clear()
    s.wait(proc)


def daemon_sigkilled(s: Scenario) -> None:
    proc = s.start()
    time.sleep(8)
    s.kill_daemon(proc)
    time.sleep(5)  # RestartSec=5
    s.clear()
    s.wait(s.start())


def broker_down_across_restart(s: Scenario) -> None:
    proc = s.start()
    time.sleep(6)
    s.broker.kill()
    time.sleep(2)
    s.kill_daemon(proc)
    again = s.start()  # comes up while the broker is still down
    time.sleep(8)
    s.broker.start()
    s.clear()
    s.wait(again)


def login_refused_then_restored(s: Scenario) -> None:
    assert s.password is not None
    proc = s.start()
    time.sleep(6)
    s.broker.kill()  # the broker restarts with the table's password rotated away
    set_password(s.password, "rotated")
    s.broker.start()
    time.sleep(8)
    set_password(s.password, RIGHT)  # the operator fixes it: mosquitto reloads on SIGHUP
    assert s.broker.proc is not None
    s.broker.proc.send_signal(signal.SIGHUP)
    s.clear()
    s.wait(proc)


def disk_full_then_freed(s: Scenario) -> None:
    first = s.start(file_limit=96 * 1024)  # the outbox's writes fail with EFBIG once it grows
    s.wait(first)
    time.sleep(5)  # RestartSec=5, and the disk has space again
    s.clear()
    s.wait(s.start())


def events_sink_disk_full(s: Scenario) -> None:
    s.wait(s.start(events_jsonl="/dev/full"))  # MQTT delivery does not depend on local sinks


FAULTS: list[tuple[str, Callable[[Scenario], None], bool]] = [
    ("none (baseline)", no_fault, False),
    ("broker killed for 15 s mid-run", broker_killed_15s, False),
    ("daemon SIGKILLed, restarted after 5 s", daemon_sigkilled, False),
    ("broker down while the daemon restarts", broker_down_across_restart, False),
    ("login refused after connect, then restored", login_refused_then_restored, True),
    ("state disk full mid-run, restarted", disk_full_then_freed, False),
    ("events JSONL disk full (/dev/full)", events_sink_disk_full, False),
]


def committed(state: Path) -> int:
    with sqlite3.connect(state / "t1.outbox.sqlite") as db:
        row = db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()
    return int(row[0]) if row else 0


def run_fault(name: str, inject: Callable[[Scenario], None], auth: bool, clip: Path, root: Path) -> dict[str, Any]:
    work = root / f"fault{time.monotonic_ns()}"
    work.mkdir(parents=True)
    password = None
    if auth:
        password = work / "passwd"
        set_password(password, RIGHT)
    broker = LocalBroker(work / "broker", password_file=password)
    broker.start()
    sub = Collector(broker.port, username=USER if auth else None, password=RIGHT if auth else None)
    s = Scenario(work, clip, broker, password)
    t0 = time.monotonic()
    try:
        inject(s)
        expected = committed(work / "state")
        deadline = time.monotonic() + 30
        while len({json.loads(p)["id"] for p in sub.on("/events")}) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(0.5)
    finally:
        for proc in s.procs:
            if proc.poll() is None:
                proc.kill()
        sub.close()
        broker.kill()
    arrivals = [(json.loads(p), at) for p, at in sub.arrivals("/events")]
    unique = {e["id"]: e for e, _ in arrivals}
    seqs = sorted(e["seq"] for e in unique.values())
    recover = None
    if s.cleared is not None:
        after = [at for _, at in arrivals if at >= s.cleared]
        recover = round(min(after) - s.cleared, 1) if after else None
    return {
        "fault": name,
        "events_committed": expected,
        "delivered_unique": len(unique),
        "duplicates_deduplicated": len(arrivals) - len(unique),
        "lost": expected - len(unique),
        "seq_contiguous": seqs == list(range(1, len(seqs) + 1)),
        "exit_codes": s.codes,
        "recover_s": recover,
        "wall_s": round(time.monotonic() - t0, 1),
        "available_last": (sub.on("/available") or [None])[-1],
    }


def table(rows: list[dict[str, Any]]) -> str:
    head = "| fault | committed | delivered | duplicates | lost | seq contiguous | exit codes | recover (s) |"
    out = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rec = "—" if r["recover_s"] is None else f"{r['recover_s']:.1f}"
        out.append(
            f"| {r['fault']} | {r['events_committed']} | {r['delivered_unique']} | {r['duplicates_deduplicated']} "
            f"| {r['lost']} | {'yes' if r['seq_contiguous'] else 'NO'} | {' '.join(map(str, r['exit_codes']))} "
            f"| {rec} |"
        )
    return "\n".join(out)


def cli() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shots", type=int, default=4)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--only", default=None, help="run the faults whose name contains this text")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="faults-"))
    clip = root / "clip"
    simulate_clips(clip, SimulateOptions(shots=args.shots, seed=args.seed, width=320, height=180))
    rows = []
    for name, inject, auth in FAULTS:
        if args.only and args.only not in name:
            continue
        print(f"... {name}", file=sys.stderr)
        rows.append(run_fault(name, inject, auth, clip, root))
    print(table(rows))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if all(r["lost"] == 0 and r["seq_contiguous"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(cli())
