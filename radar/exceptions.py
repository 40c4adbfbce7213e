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
    """Frames do not form one sequence: mixed products or grids, duplicates, gaps.

    ``kind`` says which (``mixed_products``, ``mixed_grids``, ``not_consecutive`` for
    duplicates and gaps, ``mixed_runs`` for frames of different forecasts), so that the gateway
    answers with its error code without parsing the message.
    """

    def __init__(self, message: str, kind: str = "not_consecutive"):
        super().__init__(message)
        self.kind = kind


class MissingOptionalDependency(ImportError):
    """An optional library needed for this operation is not installed."""
