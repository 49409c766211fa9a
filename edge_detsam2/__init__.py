"""edge-detsam2: YOLO-prompted streaming SAM2 tracking and billiards events for an edge appliance.

Importing the package is cheap: heavy runtimes (torch, pooltool, onnxruntime) are imported
lazily by the modules that need them.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
