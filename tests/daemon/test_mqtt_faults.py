"""MQTT faults that used to stop delivery silently: a real mosquitto, a real outbox, the real publisher.

Only ``Outbox.ack`` is made to fail (as SQLite does with "database is locked"); paho and
sqlite3 are the real libraries.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_helpers import Broker
from daemon_helpers import wait_until as wait

from edge_detsam2.config import MqttSection
from edge_detsam2.daemon.mqtt import MqttPublisher
from edge_detsam2.daemon.outbox import Outbox
from edge_detsam2.events.types import Event, EventType


def event(seq: int) -> Event:
    return Event(EventType.SHOT, 1.0 + seq, 30 + seq, ("cue_ball",), table="t1", id=f"ID{seq:04d}", seq=seq)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "t1.outbox.sqlite", "t1")
    yield box
    box.close()


def publisher(broker: Broker, outbox: Outbox, **mqtt: object) -> MqttPublisher:
    cfg = MqttSection(host="127.0.0.1", port=broker.port, connect_timeout_s=5, **mqtt)  # type: ignore[arg-type]
    pub = MqttPublisher(cfg, "t1", outbox, stats=dict, state=dict)
    pub.start()
    assert pub.connected
    return pub


def put(outbox: Outbox, seqs: range, pub: MqttPublisher) -> None:
    for s in seqs:
        outbox.put(event(s), time.time())
    pub.wake()


def test_login_refused_after_connecting_is_retried_and_delivery_resumes(
    tmp_path: Path, outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    pw = tmp_path / "passwd"
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), "scoreboard", "right"], check=True)
    pw.chmod(0o600)
    broker = Broker(tmp_path / "broker", password_file=pw)
    broker.start()
    secret = tmp_path / "secret"
    secret.write_text("right\n")
    pub = publisher(broker, outbox, username="scoreboard", password_file=secret, reconnect_max_s=1.0)
    try:
        put(outbox, range(1, 6), pub)
        assert wait(lambda: outbox.count() == 0, 10)
        # the password is rotated on the broker while the daemon runs, and the broker restarts
        broker.kill()
        subprocess.run(["mosquitto_passwd", "-b", str(pw), "scoreboard", "rotated"], check=True)
        caplog.set_level(logging.INFO, logger="edge_detsam2.daemon.mqtt")
        broker.start()
        put(outbox, range(6, 16), pub)
        assert wait(lambda: pub.state_name == "login_refused", 10)
        time.sleep(3)  # several refused retries
        assert pub.fatal is None and outbox.count() == 10
        refused = [r for r in caplog.records if "now refuses the login" in r.getMessage()]
        assert len(refused) == 1  # logged once per change, not per retry
        assert "rotated" not in caplog.text and "right" not in caplog.text
        # the broker accepts the daemon's password again: delivery resumes by itself
        broker.kill()
        subprocess.run(["mosquitto_passwd", "-b", str(pw), "scoreboard", "right"], check=True)
        broker.start()
        assert wait(lambda: outbox.count() == 0, 10), "delivery did not resume"
        assert pub.state_name == "connected" and pub.delivered == 15
        assert "accepts the login again" in caplog.text
    finally:
        pub.close(clean=False)
        broker.kill()


def test_failing_acks_do_not_stop_delivery(tmp_path: Path, outbox: Outbox, caplog: pytest.LogCaptureFixture) -> None:
    real_ack = outbox.ack
    failures = {"left": 10}

    def flaky_ack(seq: int) -> None:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise sqlite3.OperationalError("database is locked")
        real_ack(seq)

    outbox.ack = flaky_ack  # type: ignore[method-assign]
    broker = Broker(tmp_path / "broker")
    broker.start()
    pub = publisher(broker, outbox)
    try:
        put(outbox, range(1, 31), pub)
        assert wait(lambda: outbox.count() == 0, 15), f"{outbox.count()} events stuck"
        assert pub.ack_failures == 10 and pub.delivered == 30
        assert pub.client._thread is not None and pub.client._thread.is_alive()  # paho's network thread
        put(outbox, range(31, 41), pub)  # and later events still flow
        assert wait(lambda: outbox.count() == 0, 10)
        assert "cannot record the delivery of seq" in caplog.text
    finally:
        pub.close(clean=False)
        broker.kill()


def test_events_flow_within_5_s_of_the_brokers_return(tmp_path: Path, outbox: Outbox) -> None:
    broker = Broker(tmp_path / "broker")
    broker.start()
    pub = publisher(broker, outbox)  # default back-off bounds
    try:
        broker.kill()
        assert wait(lambda: not pub.connected, 10)
        put(outbox, range(1, 11), pub)
        time.sleep(15)  # long enough for an unbounded back-off to reach 16 s
        assert outbox.count() == 10
        broker.start()
        back = time.monotonic()
        assert wait(lambda: outbox.count() == 0, 10)
        assert time.monotonic() - back <= 5.0
    finally:
        pub.close(clean=False)
        broker.kill()
