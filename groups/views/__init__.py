"""One blueprint per area; the factory registers them in this order."""

from . import (
    account,
    admin,
    attendance,
    auth,
    calendars,
    groups,
    handouts,
    main,
    outbox,
    outcomes,
    sessions,
)

BLUEPRINTS = [
    auth.bp,
    main.bp,
    admin.bp,
    groups.bp,
    sessions.bp,
    calendars.bp,
    handouts.bp,
    attendance.bp,
    account.bp,
    outbox.bp,
    outcomes.bp,
]
