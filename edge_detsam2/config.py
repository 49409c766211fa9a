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

from pydantic import BaseModel, ConfigDict, Field

from edge_detsam2.errors import ConfigError
from edge_detsam2.events.params import EventParams
from edge_detsam2.yamlio import KeyPath, load_with_lines, validate_data

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


class AppConfig(_Model):
    """Top-level configuration."""

    table: TableSection = Field(default_factory=TableSection, description="The table.")
    logging: LoggingSection = Field(default_factory=LoggingSection, description="Logging.")
    events: EventParams = Field(default_factory=EventParams, description="Event-rule thresholds (physical units).")


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
    if cfg.table.calibration is not None and not cfg.table.calibration.is_absolute():
        table = cfg.table.model_copy(update={"calibration": (path.parent / cfg.table.calibration).resolve()})
        cfg = cfg.model_copy(update={"table": table})
    return cfg
