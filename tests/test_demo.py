"""Demo data: the small practice has every case to click through; the large one is big and fast."""

from __future__ import annotations

import datetime
import time
import zoneinfo

from peewee import fn

from groups.clock import utcnow
from groups.demo import DEMO_PASSWORD, DemoError, load_demo
from groups.models import (
    Attendance,
    Closure,
    CoFacilitator,
    Enrollment,
    Group,
    Session,
    User,
)
from groups.passwords import verify_password
from tests.world import login


def current_groups(email):
    return list(
        Group.select()
        .join(Enrollment, on=(Enrollment.group == Group.id))
        .join(User, on=(Enrollment.member == User.id))
        .where(User.email == email, Enrollment.status == "active")
    )


def test_small_demo_has_every_case(app, client):
    with app.app_context():  # the demo queues mail, which reads the app's config
        summary = load_demo("small")
    for email in ("admin@example.org", "provider@example.org", "member@example.org"):
        assert email in summary
        assert verify_password(User.by_email(email).password_hash, DEMO_PASSWORD)
    assert DEMO_PASSWORD in summary
    roles = dict(User.select(User.role, fn.COUNT(User.id)).group_by(User.role).tuples())
    assert roles["admin"] == 1 and roles["provider"] == 3 and 12 <= roles["member"] <= 16

    groups = list(Group.select())
    assert {(g.focus, g.format) for g in groups} >= {
        (focus, fmt) for focus in ("anxiety", "depression", "adhd") for fmt in ("open", "closed")
    }
    assert CoFacilitator.select().exists()
    assert Enrollment.select().where(Enrollment.status == "waitlisted").exists()
    assert Enrollment.select().where(Enrollment.status == "withdrawn").exists()
    assert Closure.select().exists()
    cancelled = list(Session.select().where(Session.status == "cancelled"))
    assert cancelled and all(s.cancel_reason for s in cancelled)
    assert all(s.module_id is None for s in cancelled)

    now = utcnow()
    held = Session.select().where(Session.status == "held")
    assert held.exists() and all(s.ends_at < now for s in held)
    assert not Session.select().where(Session.status == "scheduled", Session.ends_at < now).exists()
    # Held sessions have attendance, one row per seated member.
    assert Attendance.select().count() >= held.count() * 3
    assert (
        Attendance.select(Attendance.session, Attendance.member)
        .group_by(Attendance.session, Attendance.member)
        .having(fn.COUNT(Attendance.id) > 1)
        .count()
        == 0
    )

    # One group crosses a daylight-saving change and keeps its local time.
    crossing = []
    for g in groups:
        zone = zoneinfo.ZoneInfo(g.timezone)
        sessions = list(Session.select().where(Session.group == g))
        offsets = {s.starts_at.astimezone(zone).utcoffset() for s in sessions}
        local = {s.starts_at.astimezone(zone).time() for s in sessions}
        if len(offsets) > 1:
            crossing.append(g)
        if sessions:
            assert len(local) == 1, g.name
    assert crossing

    # No session falls on a closure (in the group's own zone).
    closed = {c.date for c in Closure.select()}
    for s in Session.select(Session, Group).join(Group):
        assert s.starts_at.astimezone(zoneinfo.ZoneInfo(s.group.timezone)).date() not in closed

    # The demo member is in two groups and has a session in the coming week.
    mine = current_groups("member@example.org")
    assert len(mine) == 2
    week = (
        Session.select()
        .where(
            Session.group.in_([g.id for g in mine]),
            Session.starts_at.between(
                now - datetime.timedelta(hours=12), now + datetime.timedelta(days=7)
            ),
        )
        .count()
    )
    assert week >= 2

    # The pages work with it.
    member = User.by_email("member@example.org")
    login(client, member)
    page = client.get("/schedule").text
    assert all(g.name in page for g in mine)
    assert "Cancelled:" in page
    provider = User.by_email("provider@example.org")
    login(client, provider)
    assert client.get("/home").status_code == 200
    for g in list(Group.select().where(Group.lead == provider)):
        assert client.get(f"/groups/{g.id}").status_code == 200


def test_demo_refuses_a_database_that_has_groups_or_accounts(app, make_user):
    make_user("provider")
    try:
        load_demo("small")
    except DemoError as error:
        assert "only loaded into an empty database" in str(error)
    else:
        raise AssertionError("loaded demo data into a database with accounts")
    assert Group.select().count() == 0


def test_large_demo_is_big_and_fast(app):
    started = time.perf_counter()
    summary = load_demo("large")
    seconds = time.perf_counter() - started
    assert seconds < 60, summary
    assert Group.select().count() >= 300
    assert User.select().where(User.role == "member").count() >= 3000
    assert Session.select().count() >= 10000
    per_group = (
        Enrollment.select(Enrollment.group, fn.COUNT(Enrollment.id).alias("n"))
        .where(Enrollment.status == "active")
        .group_by(Enrollment.group)
    )
    assert {row.n for row in per_group} == {12}
    sizes = {
        n
        for _, n in Session.select(Session.group, fn.COUNT(Session.id))
        .group_by(Session.group)
        .tuples()
    }
    assert min(sizes) >= 20 and max(sizes) <= 40
    first = Session.select(fn.MIN(Session.starts_at)).scalar()
    last = Session.select(fn.MAX(Session.starts_at)).scalar()
    first, last = (Session.starts_at.python_value(v) for v in (first, last))
    assert last - first >= datetime.timedelta(days=360)
    assert Session.select().where(Session.status == "held").count() > 1000
    assert Attendance.select().count() > 10000
    assert len(current_groups("member@example.org")) == 2


def test_small_demo_has_outcomes_to_look_at(app):
    from groups.models import SafetyAlert
    from groups.services import outcome_reports

    with app.app_context():
        summary = load_demo("small")
        assert "measure answers" in summary
        totals = {"reliable_improvement": 0, "no_reliable_change": 0}
        totals |= {"reliable_deterioration": 0, "recovered": 0}
        answered = 0
        for group in Group.select():
            page = outcome_reports.group_outcomes(group)
            for counts in page.totals:
                for category, n in counts.counts.items():
                    totals[category] += n
            answered += page.completion.answered
    # Each group with answers: most members improve, one deteriorates, one recovers.
    assert answered > 0
    assert totals["reliable_deterioration"] == totals["recovered"] == 3
    assert totals["reliable_improvement"] > sum(totals.values()) / 2
    (alert,) = SafetyAlert.select()  # one item-9 answer to handle
    assert alert.status == "open"
