"""Disk faults: a full disk mid-run, a bounded outbox, sinks that cannot write, tracks appended
across restarts, and the retained ``available`` after a daemon died while the broker was down.

The disk is made full for real: the daemon subprocess runs under ``RLIMIT_FSIZE`` (Python
ignores SIGXFSZ, so the kernel fails the write with EFBIG, as it fails one with ENOSPC), and
``/dev/full`` stands for a full disk under a local output. Real mosquitto, real SQLite.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from daemon_helpers import Broker, Subscriber, daemon_cmd, read_jsonl, spawn, wait_until, write_config

from edge_detsam2.cli import main
from edge_detsam2.daemon.outbox import Outbox
from edge_detsam2.daemon.sinks import JsonlAppender, ThreadSink
from edge_detsam2.events.types import Event, EventType


def event(seq: int, pad: int = 0) -> Event:
    return Event(EventType.SHOT, seq / 10, seq, ("cue_ball",), table="t1", id=f"e{seq:06d}", seq=seq, ts="x" * pad)


def mqtt_section(broker: Broker) -> dict[str, object]:
    return {"enabled": True, "port": broker.port, "drain_timeout_s": 10, "reconnect_max_s": 1}


def limit_file_size(max_bytes: int) -> Callable[[], None]:
    def preexec() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return preexec


def test_outbox_cap_drops_the_oldest_counts_and_logs_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "o.sqlite"
    box = Outbox(path, "t1", max_events=100)
    with caplog.at_level(logging.ERROR, logger="edge_detsam2.daemon.outbox"):
        for seq in range(1, 151):
            box.put(event(seq), 0.0)
    assert box.count() == 100 and box.dropped == 50
    assert [s for s, _, _ in box.pending(limit=1)] == [51]  # the oldest went first
    assert len([r for r in caplog.records if "is full" in r.getMessage()]) == 1
    box.ack(51)
    box.ack(51)  # acked twice (a redelivery): counted once
    assert box.count() == 99
    box.close()
    box = Outbox(path, "t1", max_events=100)  # the count of drops survives a restart
    assert box.dropped == 50 and box.count() == 99 and box.last_seq() == 150
    box.close()

    sized = Outbox(tmp_path / "s.sqlite", "t1", max_bytes=20_000)
    for seq in range(1, 61):
        sized.put(event(seq, pad=900), 0.0)  # about 1.1 KB of payload each
    assert sized.size_bytes() <= 20_000 and sized.dropped > 0
    assert sized.count() + sized.dropped == 60
    assert sized.size_bytes() == sum(len(p) for _, p, _ in sized.pending(limit=1000))
    sized.close()


def test_disk_full_mid_run_is_one_line_exit_1_and_a_restart_delivers_what_was_committed(
    tmp_path: Path, sim_dir: Path, broker: Broker
) -> None:
    sub = Subscriber(broker.port)
    try:
        cfg = write_config(tmp_path / "cfg.yaml", sim_dir, mqtt=mqtt_section(broker))
        outbox = tmp_path / "state" / "t1.outbox.sqlite"
        full = subprocess.run(
            daemon_cmd(cfg), capture_output=True, text=True, timeout=180, preexec_fn=limit_file_size(64 * 1024)
        )
        err = full.stderr.strip().splitlines()
        assert full.returncode == 1, full.stderr
        assert "Traceback" not in full.stderr and "ROLLBACK" not in full.stderr.upper()
        assert str(outbox) in err[-1] and "cannot store event seq" in err[-1], err[-1]
        assert wait_until(lambda: sub.on("/available")[-1:] == ["offline"], 10), sub.on("/available")
        with sqlite3.connect(outbox) as db:  # the restart finds a sound database
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            last = int(db.execute("SELECT value FROM meta WHERE key='last_seq'").fetchone()[0])
        assert last >= 1

        again = subprocess.run(daemon_cmd(cfg), capture_output=True, text=True, timeout=180)
        assert again.returncode == 0, again.stderr
        assert f"events continue at seq {last + 1}" in again.stderr
        assert sub.wait_for(lambda: sub.on("/available")[-1:] == ["stopped"], 15)
        seqs = sorted({e["seq"] for e in sub.events()})
        assert seqs == list(range(1, seqs[-1] + 1)) and seqs[-1] > last  # every committed event, once
    finally:
        sub.close()


def test_local_outputs_that_cannot_write_are_counted_and_exit_1(tmp_path: Path, sim_dir: Path) -> None:
    """/dev/full: every write fails with ENOSPC; the run finishes, names the sink, exits 1."""
    cfg = write_config(tmp_path / "cfg.yaml", sim_dir, outputs={"events_jsonl": "/dev/full"})
    done = subprocess.run(daemon_cmd(cfg), capture_output=True, text=True, timeout=180)
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert "events-jsonl" in last and "No space left on device" in last and "Traceback" not in done.stderr
    stopped = next(line for line in done.stderr.splitlines() if "stopped after" in line)
    events = int(stopped.split(" events")[0].rsplit(" ", 1)[-1])
    assert f"events-jsonl: {events} items not written" in last
    logged = sum("cannot write" in line for line in done.stderr.splitlines())
    assert events >= 10 and 1 <= logged <= 2  # when it starts failing and at the 10th item, not per item


def test_a_sink_resumes_when_writes_succeed_again(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    out = JsonlAppender(path)
    fail = {"on": True}

    def handle(line: str) -> None:
        if fail["on"]:
            raise OSError(28, "No space left on device")
        out.write_line(line)

    sink = ThreadSink("t", handle, out.close, 100)
    for i in range(3):
        sink.offer(json.dumps({"i": i}))
    assert wait_until(lambda: sink.errors == 3, 5)
    fail["on"] = False
    sink.offer(json.dumps({"i": 3}))
    sink.close()
    assert sink.dropped == 3 and sink.errors == 3
    assert read_jsonl(path) == [{"i": 3}]


def test_tracks_jsonl_appends_across_restarts_and_replays_run_by_run(tmp_path: Path, sim_dir: Path) -> None:
    tracks = tmp_path / "out" / "tracks.jsonl"
    cfg = write_config(tmp_path / "cfg.yaml", sim_dir, outputs={"tracks_jsonl": str(tracks)})
    assert subprocess.run(daemon_cmd(cfg), capture_output=True, timeout=180).returncode == 0
    one = tracks.read_text().splitlines()
    with tracks.open("a") as fh:
        fh.write('{"frame": 99999, "t": 1')  # a torn line: the daemon was killed mid-write
    assert subprocess.run(daemon_cmd(cfg), capture_output=True, timeout=180).returncode == 0
    both = tracks.read_text().splitlines()
    assert both == one + one  # appended, the torn line cut, every line whole

    table = str(sim_dir / "clip_000.table.yaml")
    single, double = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    (tmp_path / "once.jsonl").write_text("\n".join(one) + "\n")
    assert main(["events", "--tracks", str(tmp_path / "once.jsonl"), "--table", table, "--out", str(single)]) == 0
    assert main(["events", "--tracks", str(tracks), "--table", table, "--out", str(double)]) == 0
    first, replay = read_jsonl(single), read_jsonl(double)
    assert len(first) > 0 and len(replay) == 2 * len(first)
    assert [e["seq"] for e in replay] == list(range(1, 2 * len(first) + 1))
    strip = [{k: v for k, v in e.items() if k not in ("id", "seq", "ts")} for e in replay]
    assert strip[: len(first)] == strip[len(first) :]  # the second run starts from fresh state


def test_available_tells_the_truth_after_the_daemon_died_while_the_broker_was_down(
    tmp_path: Path, sim_dir: Path, long_clip: Path, broker: Broker
) -> None:
    """Retained 'online' outlives a daemon killed during a broker outage; the next start replaces
    it with 'offline' before loading models, then 'online', then 'stopped'."""
    live = write_config(tmp_path / "live.yaml", long_clip, source={"realtime": True}, mqtt=mqtt_section(broker))
    watcher = Subscriber(broker.port, client_id="watcher")
    proc = spawn(live)
    try:
        assert watcher.wait_for(lambda: "online" in watcher.on("/available"), 60)
        time.sleep(1.5)  # mosquitto autosaves retained messages every second
        watcher.close()
        broker.kill()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        if proc.stdout is not None:
            proc.stdout.close()
    broker.start()
    sub = Subscriber(broker.port, client_id="scoreboard")
    try:
        assert sub.wait_for(lambda: sub.on("/available") == ["online"], 10)  # stale: what a scoreboard sees meanwhile
        cfg = write_config(tmp_path / "cfg.yaml", sim_dir, mqtt=mqtt_section(broker))
        done = subprocess.run(daemon_cmd(cfg), capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr
        assert sub.wait_for(lambda: sub.on("/available")[-1:] == ["stopped"], 15)
        assert sub.on("/available") == ["online", "offline", "online", "stopped"]
        stats = json.loads(sub.on("/stats")[-1])
        assert abs(stats["time"] - time.time()) < 60 and stats["outbox_dropped"] == 0
    finally:
        sub.close()
    assert os.path.exists(tmp_path / "state" / "t1.outbox.sqlite")
