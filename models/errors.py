"""models.errors: the errors a user can cause with a model, a checkpoint or a model file.

Apart from :class:`radar.exceptions.RadarError` (bad radar data) so that a message says which
side is at fault; both are ``ValueError`` and the CLI and the workers treat them alike (one
line on stderr, a failed job with the message).
"""


class ModelError(ValueError):
    """A network, checkpoint or model file cannot be used as asked."""
