"""Reading the public JSONL files (tracks, events): UTF-8 lines, errors naming file and line."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from edge_detsam2.errors import InputFormatError


def jsonl_lines(path: str | Path, kind: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines of a UTF-8 JSONL file with their 1-based numbers.

    Undecodable bytes raise ``InputFormatError`` naming ``path:line`` (not a bare
    ``UnicodeDecodeError`` without the file).
    """
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if any("\udc80" <= c <= "\udcff" for c in line):
                raise InputFormatError(f"{path}:{lineno}: not UTF-8 text; {kind} JSONL is UTF-8")
            yield lineno, line
