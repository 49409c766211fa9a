from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from edge_detsam2.cli import main
from edge_detsam2.config import AppConfig, load_config
from edge_detsam2.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "configs" / "default.yaml"


def _fields(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, info in model.model_fields.items():
        assert info.description, f"{prefix}{name} has no description"
        out.append(prefix + name)
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out += _fields(ann, f"{prefix}{name}.")
    return out


def test_default_yaml_validates_and_documents_every_key() -> None:
    cfg = load_config(DEFAULT)
    assert cfg.table.id == "table-1"
    data = yaml.safe_load(DEFAULT.read_text())
    for dotted in _fields(AppConfig):
        node = data
        for part in dotted.split("."):
            assert part in node, f"configs/default.yaml lacks {dotted}"
            node = node[part]
    # Every key line in the file is preceded by a comment line.
    lines = DEFAULT.read_text().splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and not line.startswith(" ") and ":" in stripped:
            continue  # section headers
        if stripped.startswith("- "):
            continue  # an item of the list documented above its key
        if stripped and not stripped.startswith("#"):
            assert lines[i - 1].strip().startswith("#"), f"default.yaml:{i + 1} has no comment above it"


def test_environment_substitution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("table:\n  id: ${TABLE_NAME}\nlogging:\n  level: ${LEVEL:-DEBUG}\n")
    monkeypatch.setenv("TABLE_NAME", "club-7")
    cfg = load_config(p)
    assert (cfg.table.id, cfg.logging.level) == ("club-7", "DEBUG")
    monkeypatch.delenv("TABLE_NAME")
    with pytest.raises(ConfigError, match="TABLE_NAME is not set"):
        load_config(p)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("table:\n  id: table-1\n  colour: green\n", "c.yaml:3: table.colour: Extra inputs"),
        ("logging:\n  level: LOUD\n", "c.yaml:2: logging.level"),
        ("table: [1, 2]\n", "c.yaml:1: table"),
        ("- a\n", "top level must be a mapping"),
        ("table:\n  id: x\n   bad: indent\n", "invalid YAML"),
    ],
)
def test_errors_name_key_path_and_line(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "c.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_config(p)


def test_check_config_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(DEFAULT)]) == 0
    assert "calibration:" in capsys.readouterr().out
    bad = tmp_path / "c.yaml"
    bad.write_text("table:\n  calibration: missing.yaml\n")
    assert main(["check-config", "--config", str(bad)]) == 2
    assert "missing.yaml" in capsys.readouterr().err
