"""Billiards events: the public event model and (later) the streaming detectors."""

from __future__ import annotations

from edge_detsam2.events.types import CUSHIONS, Event, EventType, ShotSummary

__all__ = ["CUSHIONS", "Event", "EventType", "ShotSummary"]
