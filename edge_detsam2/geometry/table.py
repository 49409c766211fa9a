"""Table geometry in metres: rails (cushion lines) and pockets, from a calibration."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from edge_detsam2.geometry.calibration import TableCalibration
from edge_detsam2.geometry.homography import Homography

F64 = NDArray[np.float64]


@dataclass(frozen=True)
class Rail:
    """A cushion line: points p with ``dot(p, normal) == offset`` lie on the cushion nose.

    ``normal`` points into the playing surface, so ``dot(p, normal) - offset`` is the
    distance of p from the cushion, positive on the table.
    """

    name: str
    normal: F64
    offset: float

    def distance(self, xy: F64) -> float:
        return float(np.dot(xy, self.normal) - self.offset)


@dataclass(frozen=True)
class Pocket:
    id: str
    centre_m: F64
    radius_m: float


@dataclass(frozen=True)
class TableGeometry:
    """Everything the event rules need to know about the table, in the table frame."""

    length_m: float
    width_m: float
    ball_radius_m: float
    rails: tuple[Rail, ...]
    pockets: tuple[Pocket, ...]
    homography: Homography

    @classmethod
    def from_calibration(cls, cal: TableCalibration) -> TableGeometry:
        h = cal.homography
        L, W = cal.length_m, cal.width_m
        rails = (
            Rail("top", np.array([0.0, 1.0]), 0.0),
            Rail("bottom", np.array([0.0, -1.0]), -W),
            Rail("left", np.array([1.0, 0.0]), 0.0),
            Rail("right", np.array([-1.0, 0.0]), -L),
        )
        pockets = tuple(
            Pocket(p.id, np.asarray(h.to_table(np.array(p.px)), dtype=np.float64), p.radius_m)
            for p in cal.resolved_pockets()
        )
        return cls(L, W, cal.ball_radius_m, rails, pockets, h)

    def nearest_pocket(self, xy: F64) -> tuple[Pocket, float]:
        """The pocket whose centre is nearest to xy, and that distance (m)."""
        dists = [float(np.linalg.norm(xy - p.centre_m)) for p in self.pockets]
        i = int(np.argmin(dists))
        return self.pockets[i], dists[i]
