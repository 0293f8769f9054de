"""Safety alerts: item 9 above 0 raises one whatever the total; staff notified, reminded,
acknowledge and resolve with a note; every step audited."""

from __future__ import annotations

import datetime

import pytest

from groups.db import database
from groups.models import AuditLog, CoFacilitator, OutboxMessage, SafetyAlert, SafetyAlertResponse
from groups.services import ServiceError, outcomes, safety
from tests.world import attendance_world, make_user

PHQ9_ITEM9_ONLY = [0, 0, 0, 0, 0, 0, 0, 0, 1]  # total 1, minimal
PHQ9_SEVERE_NO_ITEM9 = [3, 3, 3, 3, 3, 3, 3, 3, 0]  # total 24, severe


@pytest.fixture(autouse=True)
def ctx(app):
    with app.app_context():
        yield


@pytest.fixture
def world(frozen_time):
    """A PHQ-9 group asking every session, with a co-facilitator and an admin."""
    co = make_user("provider", name="Dr. Co")
    admin = make_user("admin", name="Ada Admin")
    make_user("admin", name="Gone Admin", active=False)
    setup = attendance_world(frozen_time, members=2, sessions=4, names=["Jordan Lee", "Sam Ray"])
    CoFacilitator.create(group=setup.group, provider=co)
    outcomes.save_plan(setup.group, ["phq9"], "every_session", False, by=setup.lead)
    setup.co, setup.admin = co, admin
    return setup


def check_in(setup, n, answers, member=None):
    session = setup.session(n)
    setup.clock.set(session.starts_at - datetime.timedelta(hours=1))
    return outcomes.submit_checkin(member or setup.members[0], {"phq9": answers})


def notices():
    """The alert emails in the outbox: recipient and notice round (from the idempotency key)."""
    rows = OutboxMessage.select().where(OutboxMessage.kind == "safety_alert")
    return [
        {"recipient_id": r.recipient_id, "round": int(r.key.split(":")[2]), "message": r}
        for r in rows.order_by(OutboxMessage.id)
    ]


def test_item_9_at_zero_raises_nothing_whatever_the_total(world):
    result = check_in(world, 0, PHQ9_SEVERE_NO_ITEM9)
    assert not result.needs_crisis_card
    assert SafetyAlert.select().count() == 0
    assert notices() == []


def test_item_9_above_zero_raises_an_alert_whatever_the_total(world):
    result = check_in(world, 0, PHQ9_ITEM9_ONLY)
    (alert,) = result.alerts
    assert result.needs_crisis_card
    assert (alert.member_id, alert.group_id, alert.status) == (
        world.members[0].id,
        world.group.id,
        "open",
    )
    assert [link.response_id for link in alert.responses] == [r.id for r in result.responses]
    assert AuditLog.get(AuditLog.action == "safety_alert_raised").target_id == alert.id


def test_staff_are_notified_with_initials_only(world):
    check_in(world, 0, PHQ9_ITEM9_ONLY)
    (alert,) = SafetyAlert.select()
    recipients = {n["recipient_id"] for n in notices()}
    assert recipients == {world.lead.id, world.co.id, world.admin.id}  # not the inactive admin
    assert (alert.notice_rounds, alert.last_notified_at) == (1, world.clock.now)
    with database.atomic():  # notices are queued in the transaction of their cause
        (notice, *_) = safety.notify_staff(alert)  # what the email carries
    assert notice.context == {"member_initials": "J. L.", "alert_id": alert.id, "reminder": True}
    words = f"{notice.subject} {notice.context}".lower()
    for leak in ("anxiety", "phq", "score", "item", "jordan", world.members[0].email):
        assert leak not in words
    for queued in notices():  # the emails themselves: initials and a link, nothing clinical
        message = queued["message"]
        body = f"{message.subject} {message.text_body} {message.html_body}".lower()
        assert "j. l." in body and f"/groups/{world.group.id}" in body
        for leak in ("anxiety", "phq", "score", "item", "jordan", world.members[0].email):
            assert leak not in body


def test_a_repeat_positive_within_24_hours_attaches_to_the_open_alert(world):
    first = check_in(world, 0, PHQ9_ITEM9_ONLY).alerts[0]
    # Paper entry for the same session's member, 5 hours later.
    world.clock.advance(hours=5)
    again = outcomes.enter_paper(world.session(0), world.members[0], "gad7", [0] * 7, by=world.lead)
    assert again.alerts == []  # GAD-7 has no safety item
    world.clock.set(world.session(0).ends_at + datetime.timedelta(hours=1))
    paper = outcomes.enter_paper(
        world.session(0), world.members[1], "phq9", PHQ9_ITEM9_ONLY, by=world.lead
    )
    assert paper.alerts[0].id != first.id  # another member: their own alert
    repeat = outcomes.enter_paper(
        world.session(1), world.members[0], "phq9", PHQ9_ITEM9_ONLY, by=world.lead
    )
    assert repeat.alerts[0].id == first.id
    assert SafetyAlertResponse.select().where(SafetyAlertResponse.alert == first).count() == 2
    assert AuditLog.select().where(AuditLog.action == "safety_alert_attached").count() == 1
    assert SafetyAlert.select().count() == 2


def test_a_positive_after_24_hours_or_after_acknowledging_opens_a_new_alert(world):
    first = check_in(world, 0, PHQ9_ITEM9_ONLY).alerts[0]
    second = check_in(world, 1, PHQ9_ITEM9_ONLY).alerts[0]  # a week later
    assert second.id != first.id
    safety.acknowledge(second.id, by=world.lead)
    world.clock.advance(hours=1)
    third = outcomes.enter_paper(
        world.session(1), world.members[1], "phq9", PHQ9_ITEM9_ONLY, by=world.lead
    )
    assert third.alerts[0].id not in (first.id, second.id)


def test_acknowledge_then_resolve_with_a_required_note(world):
    alert = check_in(world, 0, PHQ9_ITEM9_ONLY).alerts[0]
    with pytest.raises(ServiceError, match="Acknowledge the alert before"):
        safety.resolve(alert.id, "Called the member.", by=world.lead)
    safety.acknowledge(alert.id, by=world.co)
    with pytest.raises(ServiceError, match="already acknowledged"):
        safety.acknowledge(alert.id, by=world.lead)
    for note in ("", "   ", "x" * 2001, "bad\x07note"):
        with pytest.raises(ServiceError) as refused:
            safety.resolve(alert.id, note, by=world.lead)
        assert refused.value.field == "note"
    safety.resolve(
        alert.id, "Called the member; safety plan reviewed.\nGP informed.", by=world.lead
    )
    alert = SafetyAlert.get_by_id(alert.id)
    assert (alert.status, alert.acknowledged_by_id, alert.resolved_by_id) == (
        "resolved",
        world.co.id,
        world.lead.id,
    )
    assert alert.resolution_note.endswith("GP informed.")
    with pytest.raises(ServiceError, match="already resolved"):
        safety.resolve(alert.id, "again", by=world.lead)
    actions = [a.action for a in AuditLog.select().where(AuditLog.target_type == "safety_alert")]
    assert "safety_alert_acknowledged" in actions and "safety_alert_resolved" in actions
    resolved = AuditLog.get(AuditLog.action == "safety_alert_resolved")
    assert "GP" not in resolved.detail  # ids only, never the note


def test_unacknowledged_alerts_notify_again_after_safety_remind_hours(world, app):
    alert = check_in(world, 0, PHQ9_ITEM9_ONLY).alerts[0]
    world.clock.advance(hours=3, minutes=59)
    assert safety.remind_unacknowledged() == 0
    world.clock.advance(minutes=1)
    assert safety.remind_unacknowledged() == 1
    assert safety.remind_unacknowledged() == 0  # a second dispatcher pass: nothing more
    assert SafetyAlert.get_by_id(alert.id).notice_rounds == 2
    assert [n["round"] for n in notices()] == [1, 1, 1, 2, 2, 2]
    app.config["SAFETY_REMIND_HOURS"] = 1
    world.clock.advance(hours=1)
    safety.acknowledge(alert.id, by=world.lead)
    assert safety.remind_unacknowledged() == 0  # acknowledged: reminders stop


def test_open_alerts_are_seen_by_the_groups_staff_and_every_admin(world):
    alert = check_in(world, 0, PHQ9_ITEM9_ONLY).alerts[0]
    outsider = make_user("provider")
    assert [a.id for a in safety.open_alerts_for(world.lead)] == [alert.id]
    assert [a.id for a in safety.open_alerts_for(world.co, world.group)] == [alert.id]
    assert [a.id for a in safety.open_alerts_for(world.admin)] == [alert.id]
    assert safety.open_alerts_for(outsider) == []
    assert safety.open_alerts_for(world.members[0]) == []
    assert safety.alert_for_staff(outsider, alert.id) is None
    assert safety.alert_for_staff(world.co, alert.id).id == alert.id
    safety.acknowledge(alert.id, by=world.lead)
    assert safety.open_alerts_for(world.admin) == []


def test_crisis_card_uses_the_practice_phone_and_crisis_text(app):
    app.config["PRACTICE_PHONE"] = "555-0100"
    card = safety.crisis_card()
    assert card == {"phone": "555-0100", "text": app.config["CRISIS_TEXT"]}
    assert "988" in card["text"]
