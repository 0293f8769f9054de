"""Operations that span several models or need a transaction."""


class ServiceError(ValueError):
    """A refused operation; ``field`` names the form field the message belongs to."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
