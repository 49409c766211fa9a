"""Run a command under the unit's system-call filter, as systemd would (tests only).

``python tests/unit_sandbox.py ALLOWED_FILE -- CMD...`` loads a seccomp filter through
libseccomp that allows exactly the system calls listed in ALLOWED_FILE and fails every other
with EPERM (the unit's ``SystemCallErrorNumber=EPERM``), then execs CMD. ``allowed_syscalls``
expands a unit's ``SystemCallFilter=`` lines with the groups ``systemd-analyze syscall-filter``
prints, so the test runs the daemon under exactly the unit's list.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import subprocess
import sys
from pathlib import Path

SCMP_ACT_ALLOW = 0x7FFF0000


def scmp_act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


def syscall_groups() -> dict[str, list[str]]:
    """``@group`` -> its members (system calls and nested ``@groups``), from systemd-analyze."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True, check=True).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in out.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not raw.startswith((" ", "\t")) and line.startswith("@"):
            current = groups.setdefault(line, [])
        elif current is not None:
            current.append(line)
    return groups


def expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    calls: set[str] = set()
    for name in names:
        calls |= expand(groups[name], groups) if name.startswith("@") else {name}
    return calls


def allowed_syscalls(filter_lines: list[str]) -> set[str]:
    """systemd's semantics: the first line sets an allow list, ``~`` lines remove from it."""
    groups = syscall_groups()
    allowed: set[str] = set()
    for line in filter_lines:
        deny = line.startswith("~")
        names = line.lstrip("~").split()
        if deny:
            allowed -= expand(names, groups)
        else:
            allowed |= expand(names, groups)
    return allowed


def load_filter(allowed: set[str]) -> int:
    """Install the filter in this process (inherited across exec); returns how many calls it allows."""
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp") or "libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(scmp_act_errno(errno.EPERM))
    if not ctx:
        raise OSError("seccomp_init failed")
    n = 0
    for name in sorted(allowed):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:  # not a system call on this architecture
            continue
        if lib.seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) != 0:
            raise OSError(f"seccomp_rule_add {name} failed")
        n += 1
    if lib.seccomp_load(ctx) != 0:
        raise OSError("seccomp_load failed")
    return n


def main(argv: list[str]) -> None:
    sep = argv.index("--")
    allowed = set(Path(argv[0]).read_text().split())
    load_filter(allowed)
    cmd = argv[sep + 1 :]
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
