"""``python -m edge_detsam2`` is the same as the ``edge-detsam2`` command."""

from __future__ import annotations

import sys

from edge_detsam2.cli import main

sys.exit(main())
