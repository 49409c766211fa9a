"""systemd units: the options the daemon relies on, systemd-analyze verify and security, and the
daemon under the unit's system-call filter."""

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


def service_values(name: str, key: str) -> list[str]:
    """Every value of a repeated [Service] key, in order (configparser keeps only the last)."""
    values, section = [], ""
    for raw in (UNITS / name).read_text().splitlines():
        line = raw.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and line.startswith(f"{key}="):
            values.append(line.split("=", 1)[1])
    return values


@pytest.mark.parametrize("name", ["edge-detsam2.service", "edge-detsam2@.service"])
def test_unit_exposure_is_at_most_2_5_with_devices_network_and_syscalls_closed(name: str) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (.ci/install installs systemd)")
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNITS / name)],
        capture_output=True,
        text=True,
    )
    last = [ln for ln in done.stdout.splitlines() if "Overall exposure level" in ln]
    assert last, done.stdout + done.stderr
    exposure = float(last[0].split(":")[1].split()[0])
    assert exposure <= 2.5, done.stdout
    svc = parse(name)["Service"]
    assert svc["CapabilityBoundingSet"] == "" and svc["DevicePolicy"] == "closed"
    assert svc["ProtectProc"] == "invisible" and "ProcSubset" not in svc  # torch needs /proc/cpuinfo
    assert svc["IPAddressDeny"] == "any" and svc["SystemCallErrorNumber"] == "EPERM"
    allowed = " ".join(service_values(name, "DeviceAllow"))
    for device in ("char-video4linux", "char-drm", "char-nvidia-frontend", "char-nvidia-uvm", "char-nvhost*"):
        assert device in allowed, device
    assert service_values(name, "SystemCallFilter")[0] == "@system-service"


def test_the_daemon_runs_under_the_units_syscall_filter_and_protect_proc(tmp_path: Path, sim_dir: Path) -> None:
    """The bundled models (onnxruntime detector, torch SAM2) under exactly the unit's system-call
    list (EPERM for the rest) and a /proc mounted with hidepid=invisible (ProtectProc=invisible).
    With subset=pid (ProcSubset=pid) torch cannot load the checkpoint, so the unit leaves it off.

    Emulated with unshare + libseccomp because this test may not run under a systemd PID 1; what
    it does not emulate (DevicePolicy, IPAddressDeny, ProtectSystem) a file source does not touch.
    """
    import ctypes.util

    if shutil.which("systemd-analyze") is None or shutil.which("unshare") is None:
        pytest.skip("systemd-analyze and unshare are needed (.ci/install installs systemd)")
    if ctypes.util.find_library("seccomp") is None:
        pytest.skip("libseccomp is not installed")
    probe = subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "sh", "-c", "mount -t proc -o hidepid=invisible proc /proc"],
        capture_output=True,
    )
    if probe.returncode != 0:
        pytest.skip(f"cannot create mount/pid namespaces or mount /proc here: {probe.stderr.decode().strip()}")
    from daemon_helpers import daemon_cmd, read_jsonl, short_video, write_config
    from unit_sandbox import allowed_syscalls

    allowed = allowed_syscalls(service_values("edge-detsam2.service", "SystemCallFilter"))
    assert "execve" in allowed and "reboot" not in allowed and "setrlimit" not in allowed
    (tmp_path / "allowed.txt").write_text("\n".join(sorted(allowed)))
    video = short_video(sim_dir / "clip_000.mp4", tmp_path / "short.mp4", 6)
    events = tmp_path / "events.jsonl"
    tracks = tmp_path / "tracks.jsonl"
    cfg = write_config(
        tmp_path / "cfg.yaml",
        sim_dir,
        source={"uri": str(video)},
        perception={"backend": "sam2"},
        outputs={"events_jsonl": str(events), "tracks_jsonl": str(tracks)},
    )
    sandbox = Path(__file__).resolve().parents[1] / "unit_sandbox.py"
    inner = " ".join([sys.executable, str(sandbox), str(tmp_path / "allowed.txt"), "--", *daemon_cmd(cfg)])
    script = f"mount -t proc -o hidepid=invisible proc /proc && exec {inner}"
    done = subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "sh", "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr and "Operation not permitted" not in done.stderr, done.stderr[-4000:]
    frames = read_jsonl(tracks)
    assert [f["frame"] for f in frames] == list(range(6))
    assert any(f["objects"] for f in frames)  # the bundled detector prompted SAM2 and it tracked


def test_scoreboard_unit_verifies_and_is_closed_down(tmp_path: Path) -> None:
    name = "edge-detsam2-scoreboard.service"
    svc = parse(name)["Service"]
    assert svc["ExecStart"] == INSTALLED_BIN + " scoreboard --config ${CONFIGURATION_DIRECTORY}/config.yaml"
    assert svc["IPAddressDeny"] == "any" and svc["PrivateDevices"] == "yes" and svc["CapabilityBoundingSet"] == ""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (.ci/install installs systemd)")
    exe = Path(sys.executable).with_name("edge-detsam2")
    target = tmp_path / name
    target.write_text((UNITS / name).read_text().replace(INSTALLED_BIN, str(exe)))
    done = subprocess.run(["systemd-analyze", "verify", str(target)], capture_output=True, text=True)
    complaints = [ln for ln in (done.stdout + done.stderr).splitlines() if target.name in ln]
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--no-pager", str(UNITS / name)],
        capture_output=True,
        text=True,
    )
    last = [ln for ln in done.stdout.splitlines() if "Overall exposure level" in ln]
    assert last and float(last[0].split(":")[1].split()[0]) <= 2.0, done.stdout
