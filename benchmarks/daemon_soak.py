"""Daemon soak: a simulated clip through `edge-detsam2 run` to a real mosquitto, measured.

Prints (and writes as JSON) end-to-end event latency (capture wall time of the frame in which
an event happened -> broker PUBACK, from the daemon's stats topic), the RSS timeline, and
whether every event arrived. Uses the 'tracks' perception (ground-truth tracks replayed
beside the video), so it measures the pipeline, events, outbox and MQTT, not the models.

    .venv/bin/python benchmarks/daemon_soak.py --shots 20 --realtime --out benchmarks/results/daemon_soak.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from edge_detsam2.daemon.broker import LocalBroker
from edge_detsam2.sim.batch import SimulateOptions, simulate_clips


class Collector:
    """Every message under the table's topics (QoS 1, a persistent session), with arrival times."""

    def __init__(self, port: int, *, username: str | None = None, password: str | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list[tuple[str, str, float]] = []  # topic, payload, time.monotonic()
        self.lock, ready = threading.Lock(), threading.Event()
        c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,  # type: ignore[attr-defined]
            client_id="soak-collector",
            clean_session=False,
        )
        c.reconnect_delay_set(min_delay=1, max_delay=1)
        if username is not None:
            c.username_pw_set(username, password)

        def on_connect(client: Any, *_: Any) -> None:
            client.subscribe("edge-detsam2/#", qos=1)
            ready.set()

        def on_message(client: Any, userdata: Any, msg: Any) -> None:
            with self.lock:
                self.messages.append((msg.topic, msg.payload.decode(), time.monotonic()))

        c.on_connect, c.on_message = on_connect, on_message
        c.connect("127.0.0.1", port)
        c.loop_start()
        if not ready.wait(10):
            raise RuntimeError("could not subscribe to the soak broker")
        time.sleep(0.2)  # SUBACK
        self.client = c

    def on(self, suffix: str) -> list[str]:
        with self.lock:
            return [p for t, p, _ in self.messages if t.endswith(suffix)]

    def arrivals(self, suffix: str) -> list[tuple[str, float]]:
        with self.lock:
            return [(p, at) for t, p, at in self.messages if t.endswith(suffix)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    clip = work / "clip"
    opts = SimulateOptions(shots=args.shots, seed=args.seed, width=args.width, height=args.height)
    simulate_clips(clip, opts)
    broker = LocalBroker(work / "broker")
    broker.start()
    sub = Collector(broker.port)
    cfg = {  # the 'tracks' perception: ground-truth tracks replayed beside the video
        "table": {"id": "t1", "calibration": str(clip / "clip_000.table.yaml")},
        "source": {"uri": str(clip / "clip_000.mp4"), "realtime": args.realtime},
        "perception": {"backend": "tracks", "tracks_file": str(clip / "clip_000.tracks.jsonl")},
        "mqtt": {"enabled": True, "host": "127.0.0.1", "port": broker.port, "stats_interval_s": 1.0},
        "daemon": {"state_dir": str(work / "state")},
    }
    (work / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    out = work / "events.jsonl"
    t0 = time.monotonic()
    cmd = [sys.executable, "-m", "edge_detsam2", "run", "--config", str(work / "cfg.yaml"), "--events-out", str(out)]
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.monotonic() - t0
    time.sleep(1.0)
    stats = [json.loads(s) for s in sub.on("/stats")]
    written = [json.loads(line) for line in out.read_text().splitlines() if line.strip()] if out.exists() else []
    got = {json.loads(p)["id"] for p in sub.on("/events")}
    sub.close()
    broker.kill()
    final = stats[-1]
    rss = [(s["uptime_s"], s["rss_mb"]) for s in stats]
    warm = [r for t, r in rss if t >= 10.0] or [r for _, r in rss]
    return {
        "exit_code": proc.returncode,
        "frames": final["frames"],
        "video_s": round(final["frames"] / 30.0, 1),
        "wall_s": round(wall, 1),
        "realtime": args.realtime,
        "fps": final["fps"],
        "events_written": len(written),
        "events_received": len(got & {e["id"] for e in written}),
        "event_latency_ms": final["event_latency_ms"],
        "stage_ms": final["stage_ms"],
        "rss_mb_after_10s": {"min": min(warm), "max": max(warm)},
        "peak_rss_mb": final["peak_rss_mb"],
        "rss_timeline": rss,
    }


def cli() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shots", type=int, default=20)
    p.add_argument("--seed", type=int, default=5)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--realtime", action="store_true")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    result = run(args)
    text = json.dumps(result, indent=1)
    print(json.dumps({k: v for k, v in result.items() if k != "rss_timeline"}, indent=1))
    if args.out:
        args.out.write_text(text + "\n")
    return 0 if result["exit_code"] == 0 and result["events_received"] == result["events_written"] else 1


if __name__ == "__main__":
    sys.exit(cli())
