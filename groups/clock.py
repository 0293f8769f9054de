"""The one place the app asks for the time, so tests can freeze it."""

import datetime

# Set by tests (tests/conftest.py ``frozen_time``); None means the real clock.
frozen_at: datetime.datetime | None = None


def utcnow() -> datetime.datetime:
    return frozen_at or datetime.datetime.now(datetime.UTC)
