"""Daemon -> real mosquitto -> subscriber: delivery, order, outages, restarts, credentials."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from daemon_helpers import Broker, Subscriber, daemon_cmd, free_port, read_jsonl, spawn, write_config


def mqtt_cfg(broker: Broker, **kw: object) -> dict[str, object]:
    return {"enabled": True, "host": "127.0.0.1", "port": broker.port, "stats_interval_s": 0.5, **kw}


def dedupe(events: list[dict[str, object]]) -> list[dict[str, object]]:
    seen: set[object] = set()
    out = []
    for ev in events:
        if ev["id"] not in seen:
            seen.add(ev["id"])
            out.append(ev)
    return out


def test_end_to_end_events_match_jsonl_in_order(
    tmp_path: Path, sim_dir: Path, broker: Broker, subscriber_factory: Callable[[int], Subscriber]
) -> None:
    sub = subscriber_factory(broker.port)
    cfg = write_config(tmp_path / "cfg.yaml", sim_dir, mqtt=mqtt_cfg(broker))
    out = tmp_path / "events.jsonl"
    proc = spawn(cfg, "--events-out", str(out))
    log, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, log
    written = read_jsonl(out)
    assert len(written) >= 10
    assert sub.wait_for(lambda: len(sub.events()) >= len(written), timeout=10)
    received = sub.events()
    assert [e["id"] for e in received] == [e["id"] for e in written]  # same events, same order
    assert received == written
    seqs = [e["seq"] for e in received]
    assert seqs == list(range(1, len(seqs) + 1))
    assert {e["table"] for e in received} == {"t1"}
    # retained availability ends as 'stopped'; camera, state and stats were published
    assert sub.wait_for(lambda: sub.on("/available")[-1:] == ["stopped"], timeout=5)
    assert sub.on("/available") == ["offline", "online", "stopped"]  # offline while the models load
    assert "online" in sub.on("/status/camera")
    state = json.loads(sub.on("/state")[-1])
    assert state["last_seq"] == seqs[-1] and not state["shot_in_progress"]
    stats = json.loads(sub.on("/stats")[-1])
    assert stats["frames"] > 300 and stats["events"] == len(written) and stats["rss_mb"] > 0
    assert stats["outbox_pending"] == 0 and stats["event_latency_ms"]["max"] is not None
    assert stats["duplicates_dropped"] == 0 and stats["jumps_ignored"] == 0  # exact tracks replayed
    assert stats["detections_rejected"] == 0 and stats["masks_jumped"] == 0  # no detector in a replay
    assert (
        stats["repots_ignored"] == 0
        and stats["pots_vetoed"] == 0
        and stats["restrikes_merged"] == 0
        and stats["departure_shots"] == 0
        and stats["strikes_named_cue"] == 0
    )
    # the break's cue-ball hit falls in the frame the rack bursts: inferred from the first mover
    assert stats["first_contacts_inferred"] == 1


def test_broker_outage_loses_and_duplicates_nothing(
    tmp_path: Path, long_clip: Path, broker: Broker, subscriber_factory: Callable[[int], Subscriber]
) -> None:
    sub = subscriber_factory(broker.port)
    cfg = write_config(
        tmp_path / "cfg.yaml", long_clip, source={"realtime": True}, mqtt=mqtt_cfg(broker, drain_timeout_s=60)
    )
    out = tmp_path / "events.jsonl"
    proc = spawn(cfg, "--events-out", str(out))
    assert sub.wait_for(lambda: len(sub.events()) >= 3, timeout=60), "no events before the outage"
    broker.kill()
    killed_at = len(read_jsonl(out))
    time.sleep(20)
    during = len(read_jsonl(out))
    assert during > killed_at, "the clip should keep producing events while the broker is down"
    broker.start()
    log, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, log
    assert "MQTT disconnected" in log
    written = read_jsonl(out)
    assert sub.wait_for(lambda: len(dedupe(sub.events())) >= len(written), timeout=30)
    unique = dedupe(sub.events())
    assert sorted(e["seq"] for e in unique) == [e["seq"] for e in written]  # nothing lost
    assert {e["id"] for e in unique} == {e["id"] for e in written}
    assert len(unique) == len(written)  # nothing extra beyond exact re-deliveries
    # after the restart the daemon said 'online' again, and 'stopped' at the end
    avail = sub.on("/available")
    assert avail.count("online") >= 2 and avail[-1] == "stopped"


def test_sigkill_then_restart_delivers_outbox_and_continues_seq(
    tmp_path: Path, long_clip: Path, subscriber_factory: Callable[[int], Subscriber]
) -> None:
    broker = Broker(tmp_path / "broker")  # not started: the first run cannot deliver anything
    cfg1 = write_config(
        tmp_path / "cfg1.yaml",
        long_clip,
        source={"realtime": True},
        mqtt=mqtt_cfg(broker, connect_timeout_s=0.5),
    )
    out1 = tmp_path / "run1.jsonl"
    proc = spawn(cfg1, "--events-out", str(out1))
    deadline = time.monotonic() + 60
    while len(read_jsonl(out1)) < 5 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = read_jsonl(out1)
    assert len(first) >= 5
    broker.start()
    try:
        sub = subscriber_factory(broker.port)
        cfg2 = write_config(tmp_path / "cfg2.yaml", long_clip, mqtt=mqtt_cfg(broker))
        out2 = tmp_path / "run2.jsonl"
        done = subprocess.run(
            [*spawn_args(cfg2), "--events-out", str(out2)], capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        second = read_jsonl(out2)
        assert sub.wait_for(lambda: len(dedupe(sub.events())) >= len(first) + len(second), timeout=15)
        got = dedupe(sub.events())
        ids = {e["id"] for e in got}
        assert {e["id"] for e in first} <= ids  # everything written before the kill arrived
        seqs = [e["seq"] for e in got]
        assert seqs == sorted(seqs) and seqs == list(range(1, len(seqs) + 1))  # contiguous across restart
        assert second[0]["seq"] == max(e["seq"] for e in got if e["id"] not in {x["id"] for x in second}) + 1
    finally:
        broker.kill()


def spawn_args(cfg: Path) -> list[str]:

    return daemon_cmd(cfg)


def test_sigkill_publishes_last_will_offline(
    tmp_path: Path, long_clip: Path, broker: Broker, subscriber_factory: Callable[[int], Subscriber]
) -> None:
    sub = subscriber_factory(broker.port)
    cfg = write_config(tmp_path / "cfg.yaml", long_clip, source={"realtime": True}, mqtt=mqtt_cfg(broker))
    proc = spawn(cfg)
    assert sub.wait_for(lambda: "online" in sub.on("/available"), timeout=60)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert sub.wait_for(lambda: sub.on("/available")[-1:] == ["offline"], timeout=15)


def test_sigterm_drains_and_says_stopped(
    tmp_path: Path, long_clip: Path, broker: Broker, subscriber_factory: Callable[[int], Subscriber]
) -> None:
    sub = subscriber_factory(broker.port)
    cfg = write_config(tmp_path / "cfg.yaml", long_clip, source={"realtime": True}, mqtt=mqtt_cfg(broker))
    out = tmp_path / "events.jsonl"
    proc = spawn(cfg, "--events-out", str(out))
    assert sub.wait_for(lambda: len(sub.events()) >= 2, timeout=60)
    proc.send_signal(signal.SIGTERM)
    log, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, log
    assert sub.wait_for(lambda: sub.on("/available")[-1:] == ["stopped"], timeout=5)
    assert [e["id"] for e in dedupe(sub.events())] == [e["id"] for e in read_jsonl(out)]


def test_wrong_credentials_exit_2_naming_the_keys(tmp_path: Path, sim_dir: Path) -> None:
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "scoreboard", "right"], check=True)
    pw.chmod(0o600)
    broker = Broker(tmp_path / "broker", password_file=pw)
    broker.start()
    try:
        secret = tmp_path / "secret"
        secret.write_text("wrong\n")
        cfg = write_config(
            tmp_path / "cfg.yaml",
            sim_dir,
            mqtt=mqtt_cfg(broker, username="scoreboard", password_file=str(secret)),
        )
        done = subprocess.run(spawn_args(cfg), capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, done.stderr
        assert "mqtt.username" in done.stderr and "refused the login" in done.stderr
        assert "wrong" not in done.stderr + done.stdout  # the secret is never logged
        # the right password from the environment works
        cfg = write_config(
            tmp_path / "cfg.yaml", sim_dir, mqtt=mqtt_cfg(broker, username="scoreboard", password="${MQTT_PW}")
        )
        done = subprocess.run(
            spawn_args(cfg),
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "MQTT_PW": "right"},
        )
        assert done.returncode == 0, done.stderr
    finally:
        broker.kill()


def test_unreachable_broker_keeps_events_and_exits_1(tmp_path: Path, sim_dir: Path) -> None:
    broker = Broker(tmp_path / "broker")  # never started
    cfg = write_config(
        tmp_path / "cfg.yaml", sim_dir, mqtt=mqtt_cfg(broker, connect_timeout_s=0.5, drain_timeout_s=0.5)
    )
    out = tmp_path / "events.jsonl"
    done = subprocess.run([*spawn_args(cfg), "--events-out", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    n = len(read_jsonl(out))
    assert n > 0
    assert f"{n} events could not be delivered" in done.stderr and "outbox.sqlite" in done.stderr
    assert "unreachable" in done.stderr


def test_tls_broker_with_ca_file(
    tmp_path: Path, sim_dir: Path, subscriber_factory: Callable[[int], Subscriber]
) -> None:
    """mosquitto with a TLS listener and a private CA; the daemon verifies the server against it."""
    d = tmp_path / "pki"
    d.mkdir()

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", str(d / "ca.key"), "-out", str(d / "ca.crt"))  # fmt: skip
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
        "-keyout", str(d / "server.key"), "-out", str(d / "server.csr"))  # fmt: skip
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", str(d / "server.csr"), "-CA", str(d / "ca.crt"), "-CAkey", str(d / "ca.key"),
        "-CAcreateserial", "-days", "2", "-extfile", str(d / "ext.cnf"), "-out", str(d / "server.crt"))  # fmt: skip
    broker = Broker(tmp_path / "broker")
    tls_port = free_port()
    with broker.conf.open("a") as fh:
        fh.write(
            f"listener {tls_port} 127.0.0.1\ncafile {d / 'ca.crt'}\ncertfile {d / 'server.crt'}\n"
            f"keyfile {d / 'server.key'}\n"
        )
    broker.start()
    try:
        sub = subscriber_factory(broker.port)  # plain listener, to watch what arrives
        tls = {"enabled": True, "ca_file": str(d / "ca.crt")}
        cfg = write_config(tmp_path / "cfg.yaml", sim_dir, mqtt={**mqtt_cfg(broker), "port": tls_port, "tls": tls})
        out = tmp_path / "events.jsonl"
        done = subprocess.run([*daemon_cmd(cfg), "--events-out", str(out)], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        written = read_jsonl(out)
        assert sub.wait_for(lambda: len(sub.events()) >= len(written), timeout=10)
        assert [e["id"] for e in sub.events()] == [e["id"] for e in written]
        # without the CA the server certificate is refused: nothing can be delivered
        cfg = write_config(
            tmp_path / "cfg2.yaml",
            sim_dir,
            mqtt={**mqtt_cfg(broker, connect_timeout_s=1, drain_timeout_s=0.5), "port": tls_port,
                  "tls": {"enabled": True}},
            daemon={"state_dir": str(tmp_path / "state2")},
        )  # fmt: skip
        done = subprocess.run(daemon_cmd(cfg), capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "could not be delivered" in done.stderr
    finally:
        broker.kill()
