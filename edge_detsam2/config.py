"""The daemon's YAML configuration: pydantic v2 models, ``extra="forbid"``, one source of truth.

``configs/default.yaml`` documents every key; ``edge-detsam2 check-config`` validates a
file and prints the resolved configuration, or every error with key path and line.
Values of the form ``${NAME}`` or ``${NAME:-default}`` are taken from the environment.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from edge_detsam2.errors import ConfigError
from edge_detsam2.events.params import EventParams
from edge_detsam2.tracker.model import BUNDLED_OVERRIDES
from edge_detsam2.tracker.params import TrackerParams
from edge_detsam2.yamlio import KeyPath, load_with_lines, validate_data

#: Models shipped with the package (trained on simulated tables; see README "Models").
MODELS_DIR = Path(__file__).resolve().parent / "data" / "models"
BUNDLED_PREFIX = "@models/"
BUNDLED_DETECTOR = "yolov8n-balls.onnx"
BUNDLED_IDENTITY = "ball-identity.onnx"
BUNDLED_SAM2 = "sam2-slim-512.pt"


def bundled(value: Any) -> Any:
    """``@models/NAME`` -> the file shipped in the package's data/models/ directory."""
    if isinstance(value, str | Path) and str(value).startswith(BUNDLED_PREFIX):
        return MODELS_DIR / str(value)[len(BUNDLED_PREFIX) :]
    return value


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TableSection(_Model):
    """Which table this box watches."""

    id: str = Field(
        "table-1",
        min_length=1,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Table name; part of every MQTT topic and event.",
    )
    calibration: Path | None = Field(
        None, description="Table calibration file (YAML/JSON, INTERFACES.md); relative to the config file."
    )


class LoggingSection(_Model):
    """Log output (journald-friendly plain lines)."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Root log level.")
    modules: dict[str, Literal["DEBUG", "INFO", "WARNING", "ERROR"]] = Field(
        default_factory=dict, description="Per-module levels, e.g. {edge_detsam2.sinks: DEBUG}."
    )


class SourceSection(_Model):
    """The camera: a video file, ``rtsp://``/``http://`` stream, ``v4l2:///dev/videoN`` or a device index."""

    uri: str | None = Field(None, description="Camera URI; null: must be given with run --source.")
    fps: float | None = Field(None, gt=0, le=1000, description="Frame rate when the source does not report one.")
    realtime: bool = Field(False, description="Pace a file at its frame rate, as a camera would (tests, demos).")
    reconnect_initial_s: float = Field(1.0, gt=0, description="First reconnect delay; doubles per failure (s).")
    reconnect_max_s: float = Field(30.0, gt=0, description="Longest reconnect delay (s).")
    stall_timeout_s: float = Field(5.0, gt=0, description="A live source with no frame this long is stalled (s).")
    open_timeout_s: float = Field(10.0, gt=0, description="Give up opening a live source after this long (s).")


class DetectorSection(_Model):
    """The YOLO detector that prompts SAM2 (``.pt``, ``.onnx`` or ``.engine`` through ultralytics)."""

    weights: Path | None = Field(
        Path(BUNDLED_PREFIX + BUNDLED_DETECTOR),
        validate_default=True,
        description="Detector weights; relative to the config file; @models/NAME: a bundled model.",
    )
    confidence: float = Field(
        0.25, ge=0, le=1, description="Detector NMS score floor (tracker.detect_confidence decides)."
    )
    iou: float = Field(0.5, ge=0, le=1, description="NMS IoU.")
    imgsz: int | None = Field(None, ge=32, description="Detector input size; null: the model's own.")
    runtime: Literal["weights", "onnx", "engine"] = Field(
        "weights", description="weights: run the file as given. onnx/engine: the artifact 'export' built from it."
    )
    identity: Path | None = Field(
        Path(BUNDLED_PREFIX + BUNDLED_IDENTITY),
        validate_default=True,
        description="Ball-identity classifier (ONNX, 'train identity') naming the detector's 'ball' boxes from "
        "full-resolution crops; null: the detector's own classes name the balls.",
    )
    ball_class: str = Field("ball", description="The detector class that the identity classifier names.")
    identity_reject: float | None = Field(
        0.8,
        ge=0,
        le=1,
        description="With an identity classifier that has the not_a_ball class: a 'ball' box it calls not a ball "
        "this surely (the cue's tip, a hand) is dropped; null: keep every box.",
    )
    allow_pickle: bool = Field(
        False,
        description="Let the daemon run a .pt detector (a pickle: a crafted file runs code). Off: only .onnx/.engine; "
        "convert a trusted .pt once with 'edge-detsam2 export'.",
    )

    _bundled = field_validator("weights", "identity", mode="before")(bundled)


class SamSection(_Model):
    """The SAM2 video model (official ``sam2`` configs, checkpoint loaded with weights_only=True)."""

    config: str = Field("configs/sam2.1/sam2.1_hiera_t.yaml", description="Official SAM2 Hydra config name.")
    overrides: tuple[str, ...] = Field(
        BUNDLED_OVERRIDES,
        description="Hydra overrides, e.g. ['++model.image_size=512'] (default: the bundled model's).",
    )
    checkpoint: Path | None = Field(
        Path(BUNDLED_PREFIX + BUNDLED_SAM2),
        validate_default=True,
        description="SAM2 checkpoint (.pt, {'model': state_dict}); relative to the config file; @models/NAME: bundled.",
    )
    bank: Path | None = Field(None, description="Preload memory bank (.safetensors) to start from; null: none.")
    runtime: Literal["torch", "onnxruntime", "tensorrt"] = Field(
        "torch",
        description="Backend of every SAM2 part. torch: the model in torch (needs the torch extra). onnxruntime / "
        "tensorrt: the parts set 'export' built, run by ONNX Runtime (CPU or CUDA) or its TensorRT provider; no "
        "torch needed (the ort / gpu extras).",
    )
    encoder: Literal["torch", "onnxruntime", "tensorrt"] = Field(
        "torch",
        description="With runtime torch only: image-encoder backend; onnxruntime/tensorrt use the artifact 'export' "
        "built.",
    )

    _bundled = field_validator("checkpoint", mode="before")(bundled)

    @model_validator(mode="after")
    def _one_runtime(self) -> SamSection:
        if self.runtime != "torch" and self.encoder != "torch":
            raise ValueError(
                f"encoder: {self.encoder} applies to runtime torch; runtime {self.runtime} runs every part, the image "
                "encoder included: remove encoder"
            )
        if self.runtime != "torch" and self.bank is not None:
            raise ValueError(f"bank: memory banks load into runtime torch only; runtime {self.runtime}: remove bank")
        if self.runtime != "torch" and self.checkpoint is None:
            raise ValueError(f"checkpoint: runtime {self.runtime} runs the parts exported from a checkpoint; set one")
        return self


class PerceptionSection(_Model):
    """Frames to tracks: YOLO-prompted SAM2, or a replay of recorded tracks."""

    backend: Literal["sam2", "tracks"] = Field(
        "sam2", description="sam2: detector + SAM2 tracker. tracks: replay tracks_file frame by frame."
    )
    device: str = Field("cpu", description="torch device for the detector and SAM2 (cpu, cuda, cuda:0).")
    tracks_file: Path | None = Field(
        None, description="tracks JSONL for backend 'tracks'; relative to the config file."
    )
    detector: DetectorSection = Field(default_factory=DetectorSection, description="Detector.")
    sam2: SamSection = Field(default_factory=SamSection, description="SAM2 model.")
    tracker: TrackerParams = Field(default_factory=TrackerParams, description="Detection schedule and association.")


class TlsSection(_Model):
    """MQTT over TLS."""

    enabled: bool = Field(False, description="Use TLS.")
    ca_file: Path | None = Field(None, description="CA bundle; null: the system's.")
    cert_file: Path | None = Field(None, description="Client certificate (mutual TLS).")
    key_file: Path | None = Field(None, description="Client key (mutual TLS).")
    insecure: bool = Field(False, description="Skip host-name verification (testing only).")


class HomeAssistantSection(_Model):
    """Home Assistant MQTT discovery: one device per table, built only from the public topics."""

    discovery: bool = Field(
        False,
        description="Publish retained discovery configs on every connect; turning it off (or 'edge-detsam2 "
        "discovery --clear') removes them.",
    )
    prefix: str = Field(
        "homeassistant", min_length=1, pattern=r"^[^#+]+$", description="Home Assistant's discovery prefix."
    )
    device_name: str | None = Field(None, description="Device name shown in Home Assistant; null: 'Pool table <id>'.")


class MqttSection(_Model):
    """The MQTT broker the scoreboard listens to (topics in INTERFACES.md)."""

    enabled: bool = Field(True, description="Publish over MQTT.")
    host: str = Field("localhost", min_length=1, description="Broker host.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    prefix: str = Field("edge-detsam2", min_length=1, pattern=r"^[^#+]+$", description="Topic prefix.")
    client_id: str | None = Field(None, description="MQTT client id; null: edge-detsam2-<table id>.")
    username: str | None = Field(None, description="User name; null: anonymous.")
    password: SecretStr | None = Field(None, description="Password; prefer password_file or ${ENV}. Never logged.")
    password_file: Path | None = Field(
        None, description="File holding the password, e.g. ${CREDENTIALS_DIRECTORY}/mqtt_password (systemd)."
    )
    tls: TlsSection = Field(default_factory=TlsSection, description="TLS.")
    keepalive_s: int = Field(30, ge=5, le=3600, description="MQTT keepalive (s).")
    connect_timeout_s: float = Field(5.0, gt=0, description="Wait this long for the first connection at start (s).")
    stats_interval_s: float = Field(10.0, gt=0, description="Period of the stats topic (s).")
    state_interval_s: float = Field(1.0, gt=0, description="Shortest period of the retained state topic (s).")
    drain_timeout_s: float = Field(10.0, ge=0, description="At exit, wait this long for the outbox to drain (s).")
    reconnect_min_s: float = Field(0.5, gt=0, description="First reconnect delay after the broker is lost (s).")
    reconnect_max_s: float = Field(
        4.0, gt=0, description="Longest reconnect delay (s): events flow within about this long of the broker's return."
    )
    homeassistant: HomeAssistantSection = Field(
        default_factory=HomeAssistantSection, description="Home Assistant MQTT discovery (opt-in)."
    )


class OutputsSection(_Model):
    """Local files the daemon writes besides MQTT."""

    events_jsonl: Path | None = Field(None, description="Append events JSONL here (also run --events-out).")
    tracks_jsonl: Path | None = Field(None, description="Write tracks JSONL here, for replay with 'events'.")
    video: Path | None = Field(None, description="Annotated video (.mp4); frames dropped if the writer lags.")


class DaemonSection(_Model):
    """Service behaviour."""

    state_dir: Path | None = Field(
        None, description="Outbox and sequence numbers; null: $STATE_DIRECTORY (systemd) or ./state."
    )
    frame_queue: int = Field(4, ge=1, le=256, description="Frames buffered between capture and inference.")
    sink_queue: int = Field(10000, ge=1, description="Items buffered per local sink before it drops (counted).")
    stall_s: float = Field(
        30.0, gt=0, description="Inference without progress this long stops watchdog pings (systemd restarts us)."
    )
    outbox_max_events: int = Field(
        250_000,
        ge=100,
        description="Undelivered events kept for the broker (about a week of play offline); above it the "
        "oldest are dropped, counted in stats outbox_dropped and logged.",
    )
    outbox_max_mib: float = Field(
        256.0, gt=0, description="Payload MiB of undelivered events kept; the same drop-oldest rule applies."
    )


class ExportSection(_Model):
    """Where 'edge-detsam2 export' puts artifacts and how it builds them (the daemon looks there too)."""

    cache_dir: Path | None = Field(
        None, description="Artifact cache; null: $CACHE_DIRECTORY (systemd) or ~/.cache/edge-detsam2."
    )
    half: bool = Field(False, description="fp16 artifacts (GPU only); the daemon looks for the same precision.")
    opset: int = Field(17, ge=17, le=23, description="ONNX opset.")
    workspace_gb: float = Field(4.0, gt=0, description="TensorRT builder workspace (GiB).")


class ScoreboardSection(_Model):
    """'edge-detsam2 scoreboard': the reference web scoreboard (a client of the public MQTT topics)."""

    bind: str = Field(
        "127.0.0.1:8080",
        pattern=r"^[^:\s]+:\d{1,5}$",
        description="host:port to serve on; localhost by default (README: exposing it safely).",
    )
    history: int = Field(500, ge=10, le=100_000, description="Events per table kept for pages opened later.")
    client_id: str | None = Field(
        None, description="MQTT client id (persistent session); null: edge-detsam2-scoreboard-<host>-<port>."
    )


class AppConfig(_Model):
    """Top-level configuration."""

    table: TableSection = Field(default_factory=TableSection, description="The table.")
    logging: LoggingSection = Field(default_factory=LoggingSection, description="Logging.")
    events: EventParams = Field(default_factory=EventParams, description="Event-rule thresholds (physical units).")
    source: SourceSection = Field(default_factory=SourceSection, description="Camera.")
    perception: PerceptionSection = Field(default_factory=PerceptionSection, description="Detector and tracker.")
    mqtt: MqttSection = Field(default_factory=MqttSection, description="MQTT.")
    outputs: OutputsSection = Field(default_factory=OutputsSection, description="Local outputs.")
    daemon: DaemonSection = Field(default_factory=DaemonSection, description="Service behaviour.")
    export: ExportSection = Field(default_factory=ExportSection, description="Exported artifacts.")
    scoreboard: ScoreboardSection = Field(default_factory=ScoreboardSection, description="Web scoreboard.")


def _substitute_env(value: Any, path: KeyPath, errors: list[str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute_env(v, (*path, k), errors) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_env(v, (*path, i), errors) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def repl(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        errors.append(
            f"{'.'.join(map(str, path))}: environment variable {name} is not set; "
            f"export it or write ${{{name}:-default}}"
        )
        return ""

    return _ENV.sub(repl, value)


def load_config(path: str | Path) -> AppConfig:
    """Load, substitute ``${ENV}`` values, validate, and resolve relative paths."""
    path = Path(path)
    data, lines = load_with_lines(path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections (table:, logging:, ...)")
    env_errors: list[str] = []
    data = _substitute_env(data, (), env_errors)
    if env_errors:
        raise ConfigError(f"{path}: " + "; ".join(env_errors))
    cfg = validate_data(
        AppConfig, data, source=str(path), lines=lines, hint="See configs/default.yaml for every key with its meaning."
    )
    return resolve_paths(cfg, path.parent)


def _rel(base: Path, p: Path | None) -> Path | None:
    return None if p is None or p.is_absolute() else (base / p).resolve()


def resolve_paths(cfg: AppConfig, base: Path) -> AppConfig:
    """Make every relative path of the config relative to ``base`` (the config file's folder)."""

    def fix(section: BaseModel, *names: str) -> Any:
        upd = {n: r for n in names if (r := _rel(base, getattr(section, n))) is not None}
        return section.model_copy(update=upd) if upd else section

    per = cfg.perception
    per = per.model_copy(
        update={
            "tracks_file": _rel(base, per.tracks_file) or per.tracks_file,
            "detector": fix(per.detector, "weights"),
            "sam2": fix(per.sam2, "checkpoint", "bank"),
        }
    )
    mqtt = cfg.mqtt.model_copy(update={"tls": fix(cfg.mqtt.tls, "ca_file", "cert_file", "key_file")})
    mqtt = fix(mqtt, "password_file")
    return cfg.model_copy(
        update={
            "table": fix(cfg.table, "calibration"),
            "perception": per,
            "mqtt": mqtt,
            "outputs": fix(cfg.outputs, "events_jsonl", "tracks_jsonl", "video"),
            "daemon": fix(cfg.daemon, "state_dir"),
            "export": fix(cfg.export, "cache_dir"),
        }
    )
