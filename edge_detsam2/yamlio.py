"""YAML/JSON loading that remembers where every key came from.

Validation errors must name the key path *and* the line in the user's file, so the
loader records the line of each mapping key and sequence item while parsing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from edge_detsam2.errors import ConfigError

KeyPath = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that records the 1-based line of every node, keyed by its key path."""


def _walk(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            _walk(value_node, (*path, key), lines)
            # A key's line is where the key is written, not where a nested value starts.
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


def load_with_lines(path: Path) -> tuple[Any, dict[KeyPath, int]]:
    """Parse a YAML or JSON file; return the data and a map key path -> line number."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read file ({exc.strerror}); check the path") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 YAML or JSON") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text), {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from exc
    try:
        node = yaml.compose(text, Loader=_LineLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}{where}: invalid YAML: {exc}") from exc
    lines: dict[KeyPath, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def format_key_path(path: KeyPath) -> str:
    """Render ('pockets', 0, 'px') as 'pockets[0].px'."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<root>"


def _line_for(path: KeyPath, lines: Mapping[KeyPath, int]) -> int | None:
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def validate_file(model: type[M], path: Path, hint: str = "") -> M:
    """Load ``path`` and validate it against ``model``; errors name key path and line."""
    data, lines = load_with_lines(path)
    if data is None:
        data = {}
    return validate_data(model, data, source=str(path), lines=lines, hint=hint)


def validate_data(
    model: type[M],
    data: Any,
    *,
    source: str,
    lines: Mapping[KeyPath, int] | None = None,
    hint: str = "",
) -> M:
    """Validate already-parsed data; raise ConfigError listing every problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc: KeyPath = tuple(err["loc"])
            line = _line_for(loc, lines or {})
            where = f"{source}:{line}" if line is not None else source
            problems.append(f"{where}: {format_key_path(loc)}: {err['msg']}")
        suffix = f"\n{hint}" if hint else ""
        raise ConfigError("invalid file\n  " + "\n  ".join(problems) + suffix) from None
