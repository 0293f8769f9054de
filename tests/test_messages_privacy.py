"""Privacy of every message to a member: no focus, condition, module, note or other member.

One practice triggers every kind of message; then every queued message to a
member is scanned (subject, text and HTML) for what it must never carry.
"""

from __future__ import annotations

import datetime
import re

from world import add_session, enroll, make_group, make_user

from groups.db import database
from groups.mail import messages
from groups.models import (
    FOCUS_LABELS,
    Attendance,
    Group,
    Module,
    OutboxMessage,
    User,
)
from groups.services import accounts
from groups.services import enrollment as enrollment_service
from groups.services import groups as group_service
from groups.services import schedule as schedule_service

HOUR = datetime.timedelta(hours=1)
NOTE = "Disclosed a relapse in session"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def practice_with_every_kind_of_message(app) -> tuple[Group, list[User], User]:
    provider = make_user("provider", name="Dr. Provider Example")
    group = make_group(
        provider,
        name="Thursday Evening Circle",
        focus="adhd",
        description="For adults living with ADHD",
        capacity=3,
        format="open",
    )
    alice = make_user("member", name="Alice Alder", email="alice@example.org")
    bruno = make_user("member", name="Bruno Birch", email="bruno@example.org")
    named = make_user(
        "member", name="Nell Named", email="nell@example.org", feed_shows_group_names=True
    )
    waiting = make_user("member", name="Wren Waiting", email="wren@example.org")
    past = add_session(group, now() - 72 * HOUR, status="held", module=Module.get(group=group))
    soon = add_session(group, now() + 5 * HOUR, module=Module.get(group=group))
    later = add_session(group, now() + 100 * HOUR)
    last = add_session(group, now() + 200 * HOUR)
    with app.test_request_context():
        for member in (alice, bruno, named):
            enroll(group, member)
            Attendance.create(session=past, member=member, status="present", note=NOTE)
        enrollment_service.enroll(group, waiting, by=provider)  # waitlisted: the group is full
        row, _ = enrollment_service.enroll_new_member(
            group, email="ivy@example.org", name="Ivy Invited", timezone="UTC", by=provider
        )
        messages.queue_reminders()
        schedule_service.cancel_session(later, "The facilitator is ill", by=provider)
        schedule_service.reschedule_session(
            last, (now() + 220 * HOUR).date(), datetime.time(17, 0), by=provider
        )
        fields = {k: getattr(group, k) for k in group_service.GROUP_FIELDS}
        fields["location"] = "Room 5, second floor"
        group_service.update_group(group, fields, [], lead=None, by=provider)
        bruno_row = enrollment_service.Enrollment.get(member=bruno, group=group)
        enrollment_service.withdraw(bruno_row, "Moved away", by=provider)  # Wren gets the seat
        accounts.request_password_reset("alice@example.org", "10.0.0.9")
        with database.atomic():
            alice.updated_at = now()
            messages.password_changed(alice)
    assert soon.id  # the reminder's session
    return group, [alice, bruno, named, waiting, User.by_email("ivy@example.org")], provider


def test_no_member_message_names_a_focus_module_note_or_another_member(app):
    group, members, provider = practice_with_every_kind_of_message(app)
    sent = list(OutboxMessage.select().order_by(OutboxMessage.id))
    kinds = {m.kind for m in sent}
    assert kinds >= {
        "invitation",
        "password_reset",
        "password_changed",
        "session_reminder",
        "session_cancelled",
        "session_moved",
        "place_changed",
        "seat_offered",
    }
    modules = [m.title for m in Module.select().where(Module.group == group)]
    forbidden_always = [*FOCUS_LABELS.values(), *modules, NOTE, group.description, provider.name]
    for message in sent:
        recipient = User.get_by_id(message.recipient_id)
        assert recipient.role == "member"
        whole = f"{message.subject}\n{message.text_body}\n{message.html_body}"
        for word in forbidden_always:
            assert not re.search(re.escape(word), whole, re.I), (message.kind, word)
        for focus in FOCUS_LABELS:
            assert not re.search(rf"\b{focus}\b", whole, re.I), (message.kind, focus)
        for other in members:
            if other.id != recipient.id:
                assert other.name not in whole and other.email not in whole, message.kind
        if not recipient.feed_shows_group_names:
            assert group.name not in whole, message.kind
        assert re.fullmatch(r"Test Practice: [A-Z][a-z ]+", message.subject), message.subject


def test_a_member_who_opted_in_sees_the_group_name(app):
    group, members, _ = practice_with_every_kind_of_message(app)
    named = next(m for m in members if m.feed_shows_group_names)
    theirs = OutboxMessage.select().where(OutboxMessage.recipient == named)
    assert {m.kind for m in theirs} >= {"session_reminder", "session_cancelled"}
    assert all(group.name in m.text_body for m in theirs)
