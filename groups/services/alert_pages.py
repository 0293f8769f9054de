"""What the safety-alert pages read: the list (admins: every alert; providers: their groups')
and one alert with the answers behind it. Handling (acknowledge, resolve) is ``safety``'s.

Callers pass the user whose rights apply; an alert outside them is never returned.
"""

from __future__ import annotations

from dataclasses import dataclass

from peewee import JOIN

from ..access import visible_groups
from ..db import write_transaction
from ..measures import Measure, load_measures
from ..models import Group, MeasureResponse, SafetyAlert, SafetyAlertResponse, User
from . import safety

LIST_LIMIT = 200  # newest first; older alerts stay in the audit log and list-alerts


def alert_list(user: User, status: str | None) -> list[SafetyAlert]:
    """Alerts ``user`` may handle, newest first, with member and group (1 query)."""
    query = (
        safety.alerts(status or None)
        .select_extend(User, Group)
        .join(User, on=(SafetyAlert.member == User.id))
        .switch(SafetyAlert)
        .join(Group, on=(SafetyAlert.group == Group.id))
        .limit(LIST_LIMIT)
    )
    if not user.is_admin:
        query = query.where(SafetyAlert.group.in_(visible_groups(user).select(Group.id)))
    return list(query)


@dataclass
class Answer:
    """One answer set behind an alert, with the safety items' answers spelled out."""

    response: MeasureResponse
    measure: Measure | None  # None when the measure file was removed since
    safety_answers: list[tuple[str, str]]  # (item text, chosen option's label)


@dataclass
class AlertPage:
    alert: SafetyAlert  # with member, group, acknowledged_by and resolved_by
    answers: list[Answer]


def alert_page(alert_id: int, user: User) -> AlertPage | None:
    """One alert ``user`` may handle and the answers behind it, or None (2 queries)."""
    acknowledger, resolver = User.alias(), User.alias()
    query = (
        SafetyAlert.select(SafetyAlert, User, Group, acknowledger, resolver)
        .join(User, on=(SafetyAlert.member == User.id))
        .switch(SafetyAlert)
        .join(Group, on=(SafetyAlert.group == Group.id))
        .where(SafetyAlert.id == alert_id)
    )
    # Who handled it, when anyone has: each step's user under the step's own field name.
    for handler, field in (
        (acknowledger, SafetyAlert.acknowledged_by),
        (resolver, SafetyAlert.resolved_by),
    ):
        query = query.switch(SafetyAlert).join(
            handler, JOIN.LEFT_OUTER, on=(field == handler.id), attr=field.name
        )
    if not user.is_admin:
        query = query.where(SafetyAlert.group.in_(visible_groups(user).select(Group.id)))
    alert = query.first()
    if alert is None:
        return None
    library = load_measures()
    responses = (
        MeasureResponse.select()
        .join(SafetyAlertResponse, on=(SafetyAlertResponse.response == MeasureResponse.id))
        .where(SafetyAlertResponse.alert == alert)
        .order_by(MeasureResponse.completed_at, MeasureResponse.id)
    )
    return AlertPage(alert, [_answer(r, library.get(r.measure)) for r in responses])


def _answer(response: MeasureResponse, measure: Measure | None) -> Answer:
    if measure is None:
        return Answer(response, None, [])
    scores = [int(s) for s in response.answers.split()]
    shown = []
    for number in measure.safety_items:
        item = measure.item(number)
        if number <= len(scores):
            label = next((o.label for o in item.options if o.score == scores[number - 1]), "?")
            shown.append((item.text, label))
    return Answer(response, measure, shown)


def record_view(alert: SafetyAlert, *, by: User) -> None:
    """Audit that ``by`` opened the alert (ids only)."""
    with write_transaction():
        safety.audit_alert("safety_alert_viewed", alert, actor=by)
