"""One blueprint per area; the factory registers them in this order."""

from . import (
    account,
    admin,
    alerts,
    attendance,
    auth,
    calendars,
    checkin,
    clinical,
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
    clinical.bp,
    checkin.bp,
    alerts.bp,
    outcomes.bp,
]
