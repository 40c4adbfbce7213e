"""radar.exceptions: the errors a user can cause, each with a message that names the problem.

All derive from :class:`RadarError` (a ``ValueError``), so the CLI and the gateway catch one type
and show its message (CLI: one line on stderr; HTTP: a 4xx).
"""


class RadarError(ValueError):
    """Base class of every user-facing data error."""


class FormatError(RadarError):
    """A file is not a supported radar format, or is damaged (truncated, wrong magic, ...)."""


class SizeLimitError(RadarError):
    """Input, once decompressed, exceeds a configured limit."""


class SequenceError(RadarError):
    """Frames do not form one sequence: mixed products or grids, duplicates, gaps."""


class MissingOptionalDependency(ImportError):
    """An optional library needed for this operation is not installed."""
