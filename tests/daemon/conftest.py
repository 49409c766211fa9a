"""Daemon fixtures (see tests/daemon_helpers.py)."""

from daemon_helpers import broker, long_clip, subscriber_factory

__all__ = ["broker", "long_clip", "subscriber_factory"]
