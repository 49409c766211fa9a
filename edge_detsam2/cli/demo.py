"""``edge-detsam2 demo``: the whole appliance on a fresh machine, in one command.

1. Renders a short simulated clip (pooltool physics) unless ``--clip`` names one.
2. Starts a private MQTT broker (mosquitto on a free local port) unless ``--broker`` names one.
3. Subscribes to the table's topics and prints events as the scoreboard would receive them.
   It prints the command that opens the web scoreboard beside it; ``--scoreboard`` starts
   that scoreboard itself on the private broker and keeps serving after the run until Ctrl-C.
4. Runs the daemon pipeline (file source → bundled YOLO detector → bundled SAM2 tracker →
   events → outbox → MQTT, plus events JSONL, tracks JSONL and an annotated video).
5. Prints a scorecard of the published events against the clip's ground truth.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from edge_detsam2.errors import EdgeDetSam2Error, UsageError

TABLE = "demo-table"


def add_parser(sub: argparse._SubParsersAction[Any]) -> None:
    p = sub.add_parser("demo", help="simulated clip -> bundled models -> MQTT subscriber -> scorecard")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output directory (default demo-out/)")
    p.add_argument("--clip", type=Path, default=None, help="a simulated clip's .mp4 (default: render one)")
    p.add_argument(
        "--seed",
        type=int,
        default=1,
        help="seed of the rendered clip (1: the first whose shot has all five event types)",
    )
    p.add_argument("--shots", type=int, default=1, help="shots in the rendered clip")
    p.add_argument("--layout", choices=("scatter", "rack"), default="scatter", help="mid-game table or a break")
    p.add_argument("--ball-set", choices=("nineball", "eightball"), default="nineball", help="9 + cue or 15 + cue")
    p.add_argument("--max-frames", type=int, default=None, help="use only the first N frames of the clip")
    p.add_argument("--broker", default=None, help="host:port of an MQTT broker (default: start mosquitto)")
    p.add_argument("--config", type=Path, default=None, help="base config (default: configs/default.yaml values)")
    p.add_argument("--quiet", action="store_true", help="do not print each event as it arrives")
    p.add_argument(
        "--scoreboard",
        action="store_true",
        help="also serve the web scoreboard on the demo's broker; it keeps serving after the run until Ctrl-C",
    )
    p.add_argument(
        "--scoreboard-bind", default="127.0.0.1:8080", help="host:port of --scoreboard (default %(default)s)"
    )
    p.set_defaults(func=run)


class _Subscriber:
    def __init__(self, host: str, port: int, prefix: str, quiet: bool) -> None:
        import paho.mqtt.client as mqtt

        self.events: list[dict[str, Any]] = []
        self.available: list[str] = []
        self._ready = threading.Event()
        self.quiet = quiet
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edge-detsam2-demo-scoreboard")  # type: ignore[attr-defined]

        def on_connect(cl: Any, *_: Any) -> None:
            cl.subscribe(f"{prefix}/{TABLE}/#", qos=1)
            self._ready.set()

        c.on_connect = on_connect
        c.on_message = self._on_message
        c.connect(host, port, keepalive=30)
        c.loop_start()
        if not self._ready.wait(10):
            raise EdgeDetSam2Error(f"cannot subscribe at {host}:{port}")
        time.sleep(0.2)
        self.client = c

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        topic = msg.topic.rsplit("/", 1)[-1]
        if topic == "events":
            ev = json.loads(msg.payload)
            if any(e["id"] == ev["id"] for e in self.events):
                return  # de-duplicate by id, as INTERFACES.md asks subscribers to
            self.events.append(ev)
            if not self.quiet:
                extra = ev.get("cushion") or ev.get("pocket") or ""
                summary = ev.get("summary")
                if summary:
                    extra = f"first contact {summary['first_contact']}, potted {summary['potted']}"
                print(
                    f"  scoreboard <- #{ev['seq']:<3} {ev['t']:7.2f}s {ev['type']:<9} {' '.join(ev['balls'])} {extra}"
                )
        elif topic == "available":
            self.available.append(msg.payload.decode())

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def run(args: argparse.Namespace) -> int:
    from edge_detsam2.config import AppConfig, load_config
    from edge_detsam2.daemon.broker import LocalBroker, host_port
    from edge_detsam2.daemon.daemon import Daemon

    t_start = time.monotonic()
    given = host_port(args.broker, "--broker", "127.0.0.1:1883") if args.broker else None  # before any work
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if args.clip is None:
        print(
            f"[1/5] rendering a {args.shots}-shot {args.ball_set} clip ({args.layout}) from pooltool physics "
            f"(seed {args.seed})",
            flush=True,
        )
        from edge_detsam2.sim.batch import SimulateOptions, simulate_clips

        opts = SimulateOptions(
            shots=args.shots, seed=args.seed, width=640, height=360, layout=args.layout, ball_set=args.ball_set
        )
        clip = simulate_clips(out / "clip", opts).clip_paths(out / "clip")[0]
    else:
        clip = args.clip
        print(f"[1/5] using {clip}")
    table = clip.with_suffix("").with_suffix(".table.yaml")
    truth_path = clip.with_suffix("").with_suffix(".events.jsonl")
    if not clip.is_file() or not table.is_file():
        raise UsageError(f"--clip {clip}: needs the simulated clip's .mp4 and .table.yaml beside it")
    if args.max_frames is not None:
        clip = _trim(clip, out / "clip_trimmed.mp4", args.max_frames)
    cfg = load_config(args.config) if args.config else AppConfig()  # built-in defaults == configs/default.yaml
    workdir = Path(tempfile.mkdtemp(prefix="edge-detsam2-demo-"))
    broker = None
    if given is not None:
        host, port = given
        print(f"[2/5] using the MQTT broker at {host}:{port}")
    else:
        broker = LocalBroker(workdir / "broker", persistence=False)
        broker.start()
        host, port = "127.0.0.1", broker.port
        print(f"[2/5] started a private MQTT broker (mosquitto) on {host}:{port}")
    server = None
    try:
        sub = _Subscriber(host, port, cfg.mqtt.prefix, args.quiet)
        print(f"[3/5] a subscriber listens on {cfg.mqtt.prefix}/{TABLE}/# and prints what a scoreboard receives")
        demo_cfg = cfg.model_copy(
            update={
                "table": cfg.table.model_copy(update={"id": TABLE, "calibration": table.resolve()}),
                "source": cfg.source.model_copy(update={"uri": str(clip.resolve())}),
                "mqtt": cfg.mqtt.model_copy(update={"enabled": True, "host": host, "port": port}),
                "outputs": cfg.outputs.model_copy(
                    update={
                        "events_jsonl": (out / "events.jsonl").resolve(),
                        "tracks_jsonl": (out / "tracks.jsonl").resolve(),
                        "video": (out / "annotated.mp4").resolve(),
                    }
                ),
                "daemon": cfg.daemon.model_copy(update={"state_dir": workdir / "state"}),
            }
        )
        if args.scoreboard:
            from edge_detsam2.scoreboard.server import ScoreboardServer

            server = ScoreboardServer(demo_cfg, bind=args.scoreboard_bind)
            server.start()
            print(f"      web scoreboard: open {server.url} in a browser", flush=True)
        else:
            print(
                f"      to watch it in a browser, run beside it: edge-detsam2 scoreboard --broker {host}:{port} "
                "(or run the demo with --scoreboard)",
                flush=True,
            )
        (out / "events.jsonl").unlink(missing_ok=True)
        p = demo_cfg.perception
        print(
            f"[4/5] running the daemon: {p.detector.weights} -> SAM2 {p.sam2.checkpoint} -> events -> MQTT", flush=True
        )
        t0 = time.monotonic()
        daemon = Daemon(demo_cfg)
        rc = daemon.run()
        run_s = time.monotonic() - t0
        time.sleep(0.5)
        sub.close()
        _scorecard(args, out, sub, truth_path, daemon)
        frames = daemon.frames
        print(
            f"demo: {frames} frames in {run_s:.1f} s ({frames / max(run_s, 1e-9):.1f} frames/s), "
            f"total {time.monotonic() - t_start:.1f} s; outputs in {out}/ (annotated.mp4, events.jsonl, tracks.jsonl)",
            flush=True,
        )
        if server is not None:
            print(f"scoreboard still serving at {server.url}; Ctrl-C stops it", flush=True)
            _wait_for_signal()
    finally:
        if server is not None:
            server.stop()
        if broker is not None:
            broker.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    return rc


def _wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM (both end the demo cleanly: the broker is stopped)."""
    import signal

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(0.5):
        pass


def _scorecard(args: argparse.Namespace, out: Path, sub: _Subscriber, truth_path: Path, daemon: Any) -> None:
    from edge_detsam2.evaluation.matching import score_events
    from edge_detsam2.events.types import Event, read_events_jsonl

    print(f"[5/5] scorecard: {len(sub.events)} events received over MQTT; availability {' -> '.join(sub.available)}")
    predicted = [Event.from_dict(e) for e in sub.events]
    if not truth_path.is_file():
        return
    truth = read_events_jsonl(str(truth_path))
    if args.max_frames is not None:
        fps = daemon.source.fps if daemon.source else 30.0
        truth = [e for e in truth if e.t_s <= args.max_frames / fps - 0.3]
    score = score_events(predicted, truth)
    print(f"  {'type':<10}{'truth':>6}{'pred':>6}{'P':>7}{'R':>7}{'F1':>7}")
    seen = []
    for etype, ts in score.by_type.items():
        n_truth, n_pred = ts.tp + ts.fn, ts.tp + ts.fp
        if n_truth == n_pred == 0:
            print(f"  {etype.value:<10}{0:>6}{0:>6}{'-':>7}{'-':>7}{'-':>7}")
            continue
        seen.append(ts.f1)
        print(f"  {etype.value:<10}{n_truth:>6}{n_pred:>6}{ts.precision:7.2f}{ts.recall:7.2f}{ts.f1:7.2f}")
    if seen:
        print(f"  macro-F1 over the {len(seen)} types present: {sum(seen) / len(seen):.3f}")
    (out / "scorecard.json").write_text(json.dumps(score.to_dict(), indent=1) + "\n")


def _trim(src: Path, dst: Path, n: int) -> Path:
    import cv2

    if n < 1:
        raise UsageError("--max-frames must be >= 1")
    cap = cv2.VideoCapture(str(src))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    writer = None
    for _ in range(n):
        ok, img = cap.read()
        if not ok:
            break
        if writer is None:
            fourcc = cv2.VideoWriter_fourcc(*"mp4v")  # type: ignore[attr-defined]
            writer = cv2.VideoWriter(str(dst), fourcc, fps, (img.shape[1], img.shape[0]))
        writer.write(img)
    cap.release()
    if writer is None:
        raise UsageError(f"{src}: no frames")
    writer.release()
    return dst


__all__ = ["add_parser", "run"]
