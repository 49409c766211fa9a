"""ONNX Runtime session options shared by every ONNX model the daemon runs."""

from __future__ import annotations

import os
from typing import Any


def usable_cpus() -> int:
    """CPUs this process may run on (a container's or systemd CPUAffinity= limit, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def session_options(threads: int = 0, *, spinning: bool = True) -> Any:
    """``ort.SessionOptions`` with an explicit intra-op thread count (``threads`` or the usable CPUs).

    With a count given, ONNX Runtime does not pin its worker threads; pinning calls
    sched_setaffinity, which the systemd unit's ``SystemCallFilter=~@resources`` refuses (ORT
    then logs an error per thread). ``spinning=False``: idle workers sleep at once instead of
    spinning, leaving the cores to the next model (detector.yolo explains the measurement).
    """
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or usable_cpus()
    if not spinning:
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts
