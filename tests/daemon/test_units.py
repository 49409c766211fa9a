"""systemd units: the options the daemon relies on, and systemd-analyze verify."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "systemd"
INSTALLED_BIN = "/opt/edge-detsam2/.venv/bin/edge-detsam2"


def parse(name: str) -> configparser.ConfigParser:
    cp = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    cp.optionxform = str  # type: ignore[assignment,method-assign]
    cp.read(UNITS / name)
    return cp


@pytest.mark.parametrize("name", ["edge-detsam2.service", "edge-detsam2@.service"])
def test_unit_has_notify_watchdog_restart_and_hardening(name: str) -> None:
    svc = parse(name)["Service"]
    assert svc["Type"] == "notify" and svc["NotifyAccess"] == "main"
    assert int(svc["WatchdogSec"]) > 0 and svc["Restart"] == "always"
    assert svc["ExecStart"].startswith(INSTALLED_BIN + " run --config ${CONFIGURATION_DIRECTORY}/")
    assert svc["StateDirectory"].startswith("edge-detsam2") and svc["CacheDirectory"] == "edge-detsam2"
    for key in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "DynamicUser"):
        assert key in svc, key
    if "@" in name:
        assert "%i" in svc["ExecStart"] and svc["StateDirectory"] == "edge-detsam2/%i"


@pytest.mark.parametrize("name", ["edge-detsam2.service", "edge-detsam2@.service"])
def test_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (.ci/install installs systemd)")
    exe = Path(sys.executable).with_name("edge-detsam2")
    text = (UNITS / name).read_text().replace(INSTALLED_BIN, str(exe))
    target = tmp_path / name.replace("@.", "@table-2.")
    target.write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", str(target)], capture_output=True, text=True)
    complaints = [ln for ln in (done.stdout + done.stderr).splitlines() if target.name in ln]
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr
