"""What every frame source shares: its protocol, counters, errors and URI redaction."""

from __future__ import annotations

import re
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Protocol

from edge_detsam2.errors import EdgeDetSam2Error
from edge_detsam2.frame import Frame

StatusCallback = Callable[[bool], None]


class SourceError(EdgeDetSam2Error):
    """The video source cannot be read (exit status 1)."""


@dataclass(frozen=True)
class SourceCounters:
    """What a source lost, for ``stats``."""

    dropped: int = 0  # live: frames overwritten before inference took them
    undecodable: int = 0  # file: frames that could not be decoded
    reconnects: int = 0  # live: successful re-opens after a loss


class FrameSource(Protocol):
    """A camera or file that owns its capture thread."""

    live: bool
    fps: float

    def frames(self) -> Generator[Frame | None, None, None]:
        """Frames in order until the end or ``stop()``; ``None`` is an idle tick (<= 0.25 s apart)."""
        ...

    def stop(self) -> None: ...

    def counters(self) -> SourceCounters: ...

    def check_complete(self) -> None:
        """After the end: raise ``SourceError`` if frames were lost on the way (a damaged file)."""
        ...


#: Query parameters that carry camera credentials (``?user=admin&pwd=...`` on many IP cameras).
SECRET_PARAMS = re.compile(
    r"([?&;](?:user|username|usr|login|pwd|pass|passwd|password|token|auth|key|secret|apikey|api_key)=)[^&;#]*",
    re.IGNORECASE,
)


def redact(uri: str) -> str:
    """A URI safe to log: user info and credential query parameters replaced by ***."""
    if "://" in uri and "@" in uri.split("://", 1)[1].split("/", 1)[0]:
        scheme, rest = uri.split("://", 1)
        uri = f"{scheme}://***@{rest.split('@', 1)[1]}"
    return SECRET_PARAMS.sub(r"\1***", uri)


def is_live(uri: str) -> bool:
    return uri.isdigit() or uri.startswith(
        ("rtsp://", "rtsps://", "http://", "https://", "v4l2://", "udp://", "tcp://")
    )
