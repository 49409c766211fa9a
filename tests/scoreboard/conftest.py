"""Scoreboard fixtures: the daemon tests' real broker and subscriber (tests/daemon_helpers.py)."""

from daemon_helpers import broker, subscriber_factory

__all__ = ["broker", "subscriber_factory"]
