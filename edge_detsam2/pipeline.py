"""One frame through the appliance: ``Frame`` -> perception -> ``TrackFrame`` -> events.

``build_pipeline(cfg)`` assembles the configured perception (detector + SAM2 tracker, or
a tracks replay) and the event engine of the calibrated table; ``Pipeline.step(frame)``
returns the frame's tracks and the events it completed, ``flush()`` the events owed at
the end of the stream. The daemon adds threads, sinks, MQTT and the watchdog around it;
the demo and the benchmarks run it through the daemon; the ``events`` and ``eval`` replays
run its event half (``EventEngine.for_table``) on recorded tracks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from edge_detsam2.config import AppConfig
from edge_detsam2.errors import ConfigError
from edge_detsam2.events.engine import EventEngine
from edge_detsam2.events.types import Event
from edge_detsam2.frame import Frame
from edge_detsam2.geometry.table import TableGeometry
from edge_detsam2.perception import Perception, build_perception
from edge_detsam2.tracks import TrackFrame


@dataclass(frozen=True)
class StepResult:
    """What one frame produced, with the time each half took."""

    tracks: TrackFrame
    events: list[Event]
    stage_ms: dict[str, float] = field(default_factory=dict)  # perception, events, and perception's own stages


class Pipeline:
    """Perception and the event engine of one table."""

    def __init__(self, perception: Perception, engine: EventEngine) -> None:
        self.perception, self.engine = perception, engine

    @property
    def table(self) -> TableGeometry:
        return self.engine.table

    def step(self, frame: Frame) -> StepResult:
        t0 = time.perf_counter()
        tracks = self.perception.step(frame)
        t1 = time.perf_counter()
        events = self.engine.step(tracks)
        t2 = time.perf_counter()
        stages = {"perception": (t1 - t0) * 1e3, "events": (t2 - t1) * 1e3, **self.perception.stage_ms}
        return StepResult(tracks, events, stages)

    def flush(self) -> list[Event]:
        """End of stream: confirm pending pots, close the open shot."""
        return self.engine.flush()

    def counters(self) -> dict[str, int]:
        """Corrections the pipeline made, for ``stats`` (none of them is silent)."""
        return {
            "label_changes": self.perception.label_changes,
            # a second mask on a ball another object held, dropped (tracker/tracker.py)
            "duplicates_dropped": self.perception.duplicates_dropped,
            # detector boxes the identity classifier called not a ball (detector.identity_reject)
            "detections_rejected": self.perception.detections_rejected,
            # objects whose mask jumped onto another ball between detections, dropped (tracker.jump_reach)
            "masks_jumped": self.perception.masks_jumped,
            # observations faster than events.max_speed_mps, ignored as tracker jumps
            "jumps_ignored": self.engine.jumps_ignored,
            # pots of a name already potted in the open shot, ignored
            "repots_ignored": self.engine.repots_ignored,
            # pots of a name another track still showed on the table (events.pot_veto_seen)
            "pots_vetoed": self.engine.pots_vetoed,
            # strikes within events.restrike_s of the open shot's: the same stroke
            "restrikes_merged": self.engine.restrikes_merged,
            # shots seen only as the cue ball leaving its rest spot (events.departure_m)
            "departure_shots": self.engine.departure_shots,
            # shots of a ball struck while no track was named the cue ball (events.strike_names_cue)
            "strikes_named_cue": self.engine.strikes_named_cue,
            # cue-ball contacts inferred from the first object ball to leave rest (events.first_mover_hit)
            "first_contacts_inferred": self.engine.first_contacts_inferred,
        }


def build_pipeline(cfg: AppConfig, *, first_seq: int = 1, perception: Perception | None = None) -> Pipeline:
    """The configured pipeline; events numbered from ``first_seq`` (the outbox's next)."""
    if cfg.table.calibration is None:
        raise ConfigError("table.calibration: set the table calibration file, or pass run --table FILE")
    engine = EventEngine.for_table(cfg.table.calibration, cfg.events, table_id=cfg.table.id, first_seq=first_seq)
    return Pipeline(perception or build_perception(cfg.perception, cfg.export), engine)
