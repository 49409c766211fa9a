"""Error hierarchy. Every message says what went wrong and what to do next."""

from __future__ import annotations


class EdgeDetSam2Error(Exception):
    """Base class of all errors raised on purpose by edge-detsam2."""

    exit_code = 1


class ConfigError(EdgeDetSam2Error):
    """A configuration or input file is invalid (CLI exit status 2)."""

    exit_code = 2


class UsageError(EdgeDetSam2Error):
    """A command-line argument is invalid (CLI exit status 2)."""

    exit_code = 2


class InputFormatError(ConfigError):
    """A data file (tracks, events, masks) does not follow its documented format."""


class SimulationError(EdgeDetSam2Error):
    """The physics simulation could not produce the requested clip."""
