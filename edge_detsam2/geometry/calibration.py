"""Table calibration file (INTERFACES.md, "Table calibration file").

A user calibrates once: four playing-surface corners in the image, clockwise from the
corner nearest the image's top-left, first edge a long side. Everything metric
(pockets, cushions, thresholds) derives from this file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from edge_detsam2.geometry.homography import Homography
from edge_detsam2.yamlio import validate_file

#: Default pocket ids, in table order: corners 0..3, then the middles of the long sides.
DEFAULT_POCKET_IDS = (
    "top_left",
    "top_right",
    "bottom_right",
    "bottom_left",
    "top_middle",
    "bottom_middle",
)
#: Default pocket radii and how far their centres sit outside the playing surface (m).
#: Values of a WPA-style pocket table (pooltool's defaults).
CORNER_POCKET_RADIUS_M = 0.062
MIDDLE_POCKET_RADIUS_M = 0.0645
CORNER_POCKET_OFFSET_M = 0.0295  # along each axis, outwards
MIDDLE_POCKET_OFFSET_M = 0.0685  # perpendicular to the long side, outwards


class PocketSpec(BaseModel):
    """One pocket: id, centre in image pixels, opening radius in metres."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(description="Pocket id used in pot and jaw-rebound events.", min_length=1)
    px: tuple[float, float] = Field(description="Pocket centre [u, v] in image pixels.")
    radius_m: float = Field(0.06, gt=0.0, lt=0.3, description="Pocket opening radius (m).")


class TableCalibration(BaseModel):
    """The calibration file: table size in metres and the image corners of the playing surface."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table_id: str | None = Field(None, description="Table name; the daemon config may override it.")
    length_m: float = Field(2.54, gt=0.5, lt=5.0, description="Long side between cushion noses (m).")
    width_m: float = Field(1.27, gt=0.3, lt=3.0, description="Short side between cushion noses (m).")
    ball_radius_m: float = Field(0.028575, gt=0.01, lt=0.1, description="Ball radius (m).")
    corners_px: tuple[tuple[float, float], tuple[float, float], tuple[float, float], tuple[float, float]] = Field(
        description="Playing-surface corners [u, v], clockwise from the one nearest top-left."
    )
    pockets: tuple[PocketSpec, ...] | None = Field(
        None, description="Pockets; default: 4 corners + 2 middles of the long sides."
    )

    @field_validator("corners_px")
    @classmethod
    def _corners_finite(cls, v: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        if not all(math.isfinite(c) for p in v for c in p):
            raise ValueError("corner coordinates must be finite numbers")
        return v

    @model_validator(mode="after")
    def _check_geometry(self) -> TableCalibration:
        if self.width_m >= self.length_m:
            raise ValueError("width_m must be smaller than length_m (length_m is the long side)")
        c = np.asarray(self.corners_px, dtype=np.float64)
        # Shoelace in image coordinates (v points down): positive means clockwise on screen.
        area2 = float(np.sum(c[:, 0] * np.roll(c[:, 1], -1) - np.roll(c[:, 0], -1) * c[:, 1]))
        if area2 <= 0:
            raise ValueError(
                "corners_px must be clockwise as seen in the image (top-left, top-right, "
                "bottom-right, bottom-left); reorder the four corners"
            )
        edges = np.linalg.norm(np.roll(c, -1, axis=0) - c, axis=1)
        if edges[0] + edges[2] < edges[1] + edges[3]:
            raise ValueError(
                "corners_px: the first edge (corner 0 -> 1) must be a long side; "
                "start the list at the other corner of the short edge"
            )
        for i in range(4):
            p0, p1, p2 = c[i - 1], c[i], c[(i + 1) % 4]
            cross = (p1[0] - p0[0]) * (p2[1] - p1[1]) - (p1[1] - p0[1]) * (p2[0] - p1[0])
            if cross <= 0:
                raise ValueError("corners_px must form a convex quadrilateral")
        if self.pockets is not None:
            ids = [p.id for p in self.pockets]
            if len(set(ids)) != len(ids):
                raise ValueError("pockets: pocket ids must be unique")
        return self

    @property
    def homography(self) -> Homography:
        return Homography.from_corners(self.corners_px, self.length_m, self.width_m)

    def default_pocket_table_positions(self) -> dict[str, tuple[float, float]]:
        """Default pocket centres in table metres (outside the playing surface)."""
        L, W, a, m = self.length_m, self.width_m, CORNER_POCKET_OFFSET_M, MIDDLE_POCKET_OFFSET_M
        return {
            "top_left": (-a, -a),
            "top_right": (L + a, -a),
            "bottom_right": (L + a, W + a),
            "bottom_left": (-a, W + a),
            "top_middle": (L / 2, -m),
            "bottom_middle": (L / 2, W + m),
        }

    def resolved_pockets(self) -> tuple[PocketSpec, ...]:
        """The configured pockets, or the six defaults projected into the image."""
        if self.pockets is not None:
            return self.pockets
        h = self.homography
        out = []
        for pid, xy in self.default_pocket_table_positions().items():
            radius = MIDDLE_POCKET_RADIUS_M if pid.endswith("middle") else CORNER_POCKET_RADIUS_M
            u, v = h.to_image(np.asarray(xy))
            out.append(PocketSpec(id=pid, px=(float(u), float(v)), radius_m=radius))
        return tuple(out)


def load_calibration(path: str | Path) -> TableCalibration:
    """Load and validate a calibration file (YAML or JSON); errors name key and line."""
    return validate_file(
        TableCalibration,
        Path(path),
        hint="See INTERFACES.md 'Table calibration file' or configs/table.example.yaml.",
    )
