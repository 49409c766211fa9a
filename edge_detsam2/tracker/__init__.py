"""Streaming SAM2 tracking on the official ``sam2`` modules (the ``torch`` extra)."""
