"""systemd ``Type=notify`` protocol: READY, STATUS, WATCHDOG and STOPPING messages.

Uses systemd-python's ``sd_notify`` wrapper when installed, else writes the datagram itself
(the protocol is one ``NOTIFY_SOCKET`` datagram per message). Outside systemd every call is a
no-op. The watchdog interval comes from ``WATCHDOG_USEC`` (systemd sets it from
``WatchdogSec=``); pings are sent by ``Daemon`` only while inference makes progress.
"""

from __future__ import annotations

import logging
import os
import socket

logger = logging.getLogger(__name__)


class Notifier:
    def __init__(self) -> None:
        self.socket_path = os.environ.get("NOTIFY_SOCKET")
        usec = os.environ.get("WATCHDOG_USEC")
        pid = os.environ.get("WATCHDOG_PID")
        self.watchdog_s: float | None = None
        if usec and usec.isdigit() and (not pid or pid == str(os.getpid())):
            self.watchdog_s = int(usec) / 1e6
        self._sd_notify = None
        try:
            from systemd import daemon as sd_daemon  # type: ignore[attr-defined]

            self._sd_notify = sd_daemon.notify
        except ImportError:
            pass

    @property
    def enabled(self) -> bool:
        return bool(self.socket_path)

    def send(self, message: str) -> None:
        if not self.socket_path:
            return
        if self._sd_notify is not None:
            self._sd_notify(message)
            return
        addr = self.socket_path
        if addr.startswith("@"):
            addr = "\0" + addr[1:]  # abstract namespace
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.connect(addr)
                sock.sendall(message.encode())
        except OSError as exc:
            logger.debug("sd_notify %r failed: %s", message, exc)

    def ready(self, status: str) -> None:
        self.send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self, status: str = "stopping") -> None:
        self.send(f"STOPPING=1\nSTATUS={status}")
