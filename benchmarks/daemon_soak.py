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
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from daemon_helpers import Broker, Subscriber, read_jsonl, spawn, write_config

from edge_detsam2.cli import main


def run(args: argparse.Namespace) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    sim = ["simulate", str(work / "clip"), "--clips", "1", "--shots", str(args.shots), "--seed", str(args.seed)]
    assert main([*sim, "--width", str(args.width), "--height", str(args.height), "--layout", "mixed"]) == 0
    broker = Broker(work / "broker")
    broker.start()
    sub = Subscriber(broker.port)
    mqtt = {"enabled": True, "host": "127.0.0.1", "port": broker.port, "stats_interval_s": 1.0}
    cfg = write_config(work / "cfg.yaml", work / "clip", source={"realtime": args.realtime}, mqtt=mqtt)
    out = work / "events.jsonl"
    t0 = time.monotonic()
    proc = spawn(cfg, "--events-out", str(out))
    proc.communicate()
    wall = time.monotonic() - t0
    time.sleep(1.0)
    stats = [json.loads(s) for s in sub.on("/stats")]
    written = read_jsonl(out)
    got = {e["id"] for e in sub.events()}
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
