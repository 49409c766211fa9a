"""Progress for long commands: a live line on a terminal, plain lines otherwise (logs, CI)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    """``with Progress(total, "render") as p: p.update()``; prints to stderr."""

    def __init__(self, total: int, desc: str, stream: TextIO | None = None) -> None:
        self.total = max(total, 1)
        self.desc = desc
        self.done = 0
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._t0 = time.monotonic()
        self._next_pct = 10

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tty:
            self._stream.write("\n")
            self._stream.flush()

    def update(self, n: int = 1) -> None:
        self.done += n
        pct = 100 * self.done // self.total
        rate = self.done / max(time.monotonic() - self._t0, 1e-9)
        if self._tty:
            self._stream.write(f"\r{self.desc}: {self.done}/{self.total} ({pct}%) {rate:.1f}/s")
            self._stream.flush()
        elif pct >= self._next_pct:
            self._stream.write(f"{self.desc}: {self.done}/{self.total} ({pct}%) {rate:.1f}/s\n")
            self._stream.flush()
            self._next_pct = (pct // 10 + 1) * 10
