"""Frame sources: a video file (every frame, in order) or a live camera (latest frame wins).

Every source is a ``FrameSource``: it owns its capture thread and its drop policy, and
``frames()`` yields ``Frame`` objects (image, index, time on the source clock) with ``None``
as an idle tick at least every 0.25 s, so the consumer can prove it is alive while it
waits. A file is read with back-pressure (no frame is dropped); a live camera overwrites an
untaken frame (latest wins, drops counted) and reconnects with back-off.
"""

from __future__ import annotations

from pathlib import Path

from edge_detsam2.config import SourceSection
from edge_detsam2.frame import Frame
from edge_detsam2.sources.base import FrameSource, SourceCounters, SourceError, StatusCallback, is_live, redact


def open_source(
    uri: str, cfg: SourceSection, on_status: StatusCallback | None = None, *, queue_size: int = 4
) -> FrameSource:
    """A live source for stream/device URIs, else a video file (``file://`` optional)."""
    if is_live(uri):
        from edge_detsam2.sources.live import LiveSource

        return LiveSource(uri, cfg, on_status)
    from edge_detsam2.sources.file import FileSource

    return FileSource(Path(uri.removeprefix("file://")), fps=cfg.fps, realtime=cfg.realtime, queue_size=queue_size)


__all__ = ["Frame", "FrameSource", "SourceCounters", "SourceError", "is_live", "open_source", "redact"]
