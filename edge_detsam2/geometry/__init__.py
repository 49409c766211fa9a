"""Table geometry: calibration, image<->table homography, pockets and cushions (numpy only)."""

from __future__ import annotations

from edge_detsam2.geometry.calibration import PocketSpec, TableCalibration, load_calibration
from edge_detsam2.geometry.homography import Homography

__all__ = ["Homography", "PocketSpec", "TableCalibration", "load_calibration"]
