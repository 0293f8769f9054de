"""Enrollment: atomic capacity, FIFO waitlist, promotion, closed/open rules, history."""

from __future__ import annotations

import datetime
import re
import threading

import pytest

from groups.db import database
from groups.models import AuditLog, Enrollment, SetPasswordToken, User
from groups.services import ServiceError, accounts
from groups.services import enrollment as enrollment_service
from tests.checks import field_error
from tests.world import UTC, add_session, enroll_all, login, new_group

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def provider(make_user):
    return make_user("provider", name="Dr. Lead")


def statuses(group) -> dict[int, str]:
    return {
        e.member_id: e.status
        for e in Enrollment.select().where(Enrollment.group == group).order_by(Enrollment.id)
    }


def enrollment_audits() -> int:
    return AuditLog.select().where(AuditLog.action == "enrollment_changed").count()


# --- concurrency ---------------------------------------------------------------


def run_together(jobs, connect=True):
    """Run each job in its own thread with its own connection, released together.

    ``connect=False`` for jobs that are requests: the app opens and closes the
    thread's connection itself.
    """
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)
    errors: list = []

    def worker(i, job):
        if connect:
            database.connect(reuse_if_open=True)
        try:
            barrier.wait(timeout=30)
            results[i] = job()
        except ServiceError as error:
            results[i] = error
        except BaseException as error:  # anything else would reach a user as a 500
            errors.append(error)
        finally:
            if not database.is_closed():
                database.close()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results, errors


def test_capacity_race_twenty_threads_one_seat(make_user, provider):
    group = new_group(provider, capacity=5)
    enroll_all(group, [make_user("member") for _ in range(4)])  # one seat left
    racers = [make_user("member") for _ in range(20)]
    audits_before = enrollment_audits()

    def enroll(member):
        return lambda: enrollment_service.enroll(group, member, by=provider)

    results, errors = run_together([enroll(m) for m in racers])

    assert errors == []
    assert all(isinstance(r, Enrollment) for r in results)  # no refusal either
    rows = list(
        Enrollment.select()
        .where(Enrollment.group == group, Enrollment.member.in_([m.id for m in racers]))
        .order_by(Enrollment.requested_at, Enrollment.id)
    )
    assert len(rows) == 20
    assert [r.status for r in rows].count("active") == 1
    assert [r.status for r in rows].count("waitlisted") == 19
    # Whoever got in first took the seat; the rest queue in the order they arrived.
    assert rows[0].status == "active"
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    waitlist = list(enrollment_service.waitlist(group))
    assert [e.id for e in waitlist] == [r.id for r in rows[1:]]
    assert [enrollment_service.waitlist_position(e) for e in waitlist[:3]] == [1, 2, 3]
    # Counts agree everywhere.
    assert Enrollment.active_in(group).count() == group.capacity == 5
    assert Enrollment.select().where(Enrollment.group == group).count() == 24
    assert enrollment_audits() - audits_before == 20
    returned = {r.member_id: r.status for r in results}
    assert returned == {r.member_id: r.status for r in rows}


def test_capacity_race_through_the_pages_gives_every_user_an_answer(app, make_user, provider):
    """The same race as 20 browsers: every request gets a redirect, none a 500."""
    group = new_group(provider, capacity=3)
    enroll_all(group, [make_user("member") for _ in range(2)])
    racers = [make_user("member") for _ in range(20)]
    clients = []
    for _ in racers:
        client = app.test_client()
        login(client, provider)
        clients.append(client)

    def post(client, member):
        return lambda: client.post(f"/groups/{group.id}/enroll", data={"email": member.email})

    results, errors = run_together(
        [post(c, m) for c, m in zip(clients, racers, strict=True)], connect=False
    )
    assert errors == []
    assert [r.status_code for r in results] == [302] * 20
    racing = {m.id for m in racers}
    got = [s for member_id, s in statuses(group).items() if member_id in racing]
    assert sorted(got) == ["active"] + ["waitlisted"] * 19
    assert Enrollment.active_in(group).count() == 3


def test_the_same_enrollment_submitted_concurrently_leaves_one_row(make_user, provider):
    group = new_group(provider)
    member = make_user("member")
    results, errors = run_together(
        [lambda: enrollment_service.enroll(group, member, by=provider) for _ in range(8)]
    )
    assert errors == []
    assert sum(isinstance(r, Enrollment) for r in results) == 1
    refusals = [r for r in results if isinstance(r, ServiceError)]
    assert len(refusals) == 7
    assert all("already" in r.message and r.field == "member" for r in refusals)
    assert Enrollment.select().where(Enrollment.group == group).count() == 1


def test_double_submit_from_the_page_leaves_one_row(client, make_user, provider):
    group = new_group(provider)
    member = make_user("member", name="Sam Twice", email="sam@example.org")
    login(client, provider)
    first = client.post(f"/groups/{group.id}/enroll", data={"email": "sam@example.org"})
    assert first.status_code == 302
    second = client.post(f"/groups/{group.id}/enroll", data={"email": "SAM@example.org "})
    assert second.status_code == 422
    assert "Sam Twice is already enrolled in this group." in field_error(second.text, "email")
    assert statuses(group) == {member.id: "active"}
    assert enrollment_audits() == 1


def test_the_database_refuses_a_second_current_enrollment(make_user, provider):
    from peewee import IntegrityError

    group = new_group(provider)
    member = make_user("member")
    enroll_all(group, [member])
    with pytest.raises(IntegrityError), database.atomic():
        Enrollment.create(group=group, member=member, status="waitlisted")


# --- waitlist ------------------------------------------------------------------


def test_full_group_waitlists_in_order_and_tells_the_position(client, make_user, provider):
    group = new_group(provider, capacity=1)
    members = [make_user("member", name=f"Member {n}") for n in range(3)]
    login(client, provider)
    messages = []
    for m in members:
        response = client.post(
            f"/groups/{group.id}/enroll", data={"email": m.email}, follow_redirects=True
        )
        messages.append(re.sub(r"\s+", " ", response.text))
    assert "Enrolled Member 0." in messages[0]
    assert "The group is full: Member 1 is number 1 on the waitlist." in messages[1]
    assert "The group is full: Member 2 is number 2 on the waitlist." in messages[2]
    assert list(statuses(group).values()) == ["active", "waitlisted", "waitlisted"]


def test_withdrawing_an_active_member_promotes_the_first_waitlisted(client, make_user, provider):
    group = new_group(provider, capacity=2)
    a, b, c, d = (make_user("member", name=f"Person {x}") for x in "ABCD")
    rows = enroll_all(group, [a, b, c, d])
    login(client, provider)

    response = client.post(
        f"/groups/{group.id}/enrollments/{rows[0].id}/withdraw", data={"reason": ""}
    )
    assert response.status_code == 422
    assert "Give a reason" in field_error(response.text, "reason")
    assert statuses(group)[a.id] == "active"

    response = client.post(
        f"/groups/{group.id}/enrollments/{rows[0].id}/withdraw",
        data={"reason": "Moved away"},
        follow_redirects=True,
    )
    assert "Person C moved up from the waitlist into the free seat." in response.text
    assert statuses(group) == {
        a.id: "withdrawn",
        b.id: "active",
        c.id: "active",
        d.id: "waitlisted",
    }
    withdrawn = Enrollment.get_by_id(rows[0].id)
    assert withdrawn.withdraw_reason == "Moved away"
    assert withdrawn.withdrawn_at is not None and withdrawn.joined_at is not None
    promoted = Enrollment.get_by_id(rows[2].id)
    assert promoted.joined_at is not None

    # Removing someone from the waitlist frees no seat and promotes nobody.
    enrollment_service.withdraw(Enrollment.get_by_id(rows[3].id), "Changed mind", by=provider)
    assert statuses(group)[d.id] == "withdrawn"
    assert Enrollment.active_in(group).count() == 2
    # Withdrawn twice is refused; a withdrawn row has no withdraw page.
    with pytest.raises(ServiceError):
        enrollment_service.withdraw(Enrollment.get_by_id(rows[0].id), "Again", by=provider)
    assert client.get(f"/groups/{group.id}/enrollments/{rows[0].id}/withdraw").status_code == 404

    changes = [
        e.detail
        for e in AuditLog.select()
        .where(AuditLog.action == "enrollment_changed")
        .order_by(AuditLog.id)
    ]
    assert len(changes) == 4 + 3  # four enrollments, two withdrawals, one promotion


def test_rejoining_after_withdrawal_is_allowed_and_recorded(client, make_user, provider):
    group = new_group(provider)
    member = make_user("member", name="Robin Return")
    first = enroll_all(group, [member])[0]
    enrollment_service.withdraw(first, "Travelling", by=provider)
    again = enrollment_service.enroll(group, member, by=provider)
    assert again.id != first.id and again.status == "active"
    history = list(Enrollment.select().where(Enrollment.member == member).order_by(Enrollment.id))
    assert [e.status for e in history] == ["withdrawn", "active"]
    login(client, provider)
    page = client.get(f"/groups/{group.id}/members/{member.id}").text
    assert "Travelling" in page and "Withdrawn" in page and "Active" in page
    viewed = AuditLog.get(AuditLog.action == "member_record_viewed")
    assert (viewed.target_id, viewed.actor_id) == (member.id, provider.id)


# --- closed and open groups ------------------------------------------------------


def test_closed_group_refuses_enrollment_once_its_first_session_is_held(
    client, make_user, provider, frozen_time
):
    frozen_time.set(NOW)
    group = new_group(provider, format="closed")
    first = add_session(group, NOW + datetime.timedelta(days=1))
    early = make_user("member")
    enroll_all(group, [early])  # before the start: fine

    frozen_time.set(first.starts_at + datetime.timedelta(minutes=5))
    late = make_user("member", email="late@example.org")
    with pytest.raises(ServiceError, match="closed group"):
        enrollment_service.enroll(group, late, by=provider)
    login(client, provider)
    response = client.post(f"/groups/{group.id}/enroll", data={"email": "late@example.org"})
    # The page no longer offers the enroll form; it says why instead.
    assert response.status_code == 422
    assert "This is a closed group" in response.text
    assert late.id not in statuses(group)


def test_closed_group_whose_only_past_session_was_cancelled_still_admits(
    make_user, provider, frozen_time
):
    frozen_time.set(NOW)
    group = new_group(provider, format="closed")
    add_session(group, NOW - datetime.timedelta(days=1), status="cancelled")
    add_session(group, NOW + datetime.timedelta(days=6))
    assert enroll_all(group, [make_user("member")])[0].status == "active"


def test_open_group_admits_members_at_any_time(make_user, provider, frozen_time):
    frozen_time.set(NOW)
    group = new_group(provider, format="open")
    add_session(group, NOW - datetime.timedelta(days=14), status="held")
    add_session(group, NOW - datetime.timedelta(days=7), status="held")
    add_session(group, NOW + datetime.timedelta(days=7))
    assert enroll_all(group, [make_user("member")])[0].status == "active"


@pytest.mark.parametrize("status", ["completed", "archived"])
def test_finished_groups_take_no_new_members(make_user, provider, status):
    group = new_group(provider, status=status, format="open")
    with pytest.raises(ServiceError, match=status):
        enrollment_service.enroll(group, make_user("member"), by=provider)


def test_only_active_member_accounts_can_be_enrolled(client, make_user, provider):
    group = new_group(provider)
    other_provider = make_user("provider", email="dr.other@example.org")
    inactive = make_user("member", email="gone@example.org", active=False)
    login(client, provider)
    for email in ("dr.other@example.org", "nobody@example.org", ""):
        response = client.post(f"/groups/{group.id}/enroll", data={"email": email})
        assert response.status_code == 422
        assert field_error(response.text, "email")
    with pytest.raises(ServiceError):
        enrollment_service.enroll(group, inactive, by=provider)
    with pytest.raises(ServiceError):
        enrollment_service.enroll(group, other_provider, by=provider)
    assert statuses(group) == {}


# --- a new member account on the spot -----------------------------------------------


def test_provider_creates_a_member_and_gets_a_one_time_link(client, make_user, provider):
    group = new_group(provider, timezone="America/Denver")
    login(client, provider)
    form = client.get(f"/groups/{group.id}/members/new").text
    assert 'value="America/Denver"' in form
    response = client.post(
        f"/groups/{group.id}/members/new",
        data={"name": "Nia New", "email": "Nia@Example.org", "timezone": "America/Denver"},
    )
    assert response.status_code == 200
    member = User.by_email("nia@example.org")
    assert member.role == "member" and member.password_hash is None
    assert member.timezone == "America/Denver"
    assert statuses(group) == {member.id: "active"}
    link = re.search(r"http://localhost/set-password/[\w-]+", response.text)
    assert link, "the one-time link is shown to the provider"
    assert SetPasswordToken.select().where(SetPasswordToken.user == member).count() == 1
    # The link works once.
    client.post("/logout")
    assert client.get(link.group(0)).status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "member-dup@example.org", "already exists"),
        ("email", "not-an-email", "Enter a valid email."),
        ("name", "", "This field is required."),
        ("timezone", "Nowhere/Special", "Unknown time zone"),
    ],
)
def test_bad_new_member_input_changes_nothing(client, make_user, provider, field, value, message):
    group = new_group(provider)
    make_user("member", email="member-dup@example.org")
    login(client, provider)
    users_before = User.select().count()
    data = {"name": "Nia New", "email": "nia@example.org", "timezone": "UTC", field: value}
    response = client.post(f"/groups/{group.id}/members/new", data=data)
    assert response.status_code == 422
    assert message in field_error(response.text, field)
    assert f'value="{value}"' in response.text or not value
    assert User.select().count() == users_before
    assert statuses(group) == {}


def test_a_new_member_joins_the_waitlist_when_the_group_is_full(client, make_user, provider):
    group = new_group(provider, capacity=1)
    enroll_all(group, [make_user("member")])
    login(client, provider)
    response = client.post(
        f"/groups/{group.id}/members/new",
        data={"name": "Wren Wait", "email": "wren@example.org", "timezone": "UTC"},
    )
    assert (
        "number 1 on the waitlist" in response.text
        or "waitlist" in client.get(f"/groups/{group.id}").text
    )
    assert statuses(group)[User.by_email("wren@example.org").id] == "waitlisted"


def test_a_started_closed_group_shows_no_enroll_form_and_makes_no_account(client, make_user):
    import datetime

    from groups.clock import utcnow
    from groups.models import User
    from tests.world import add_session, login, new_group

    provider = make_user("provider")
    group = new_group(provider, format="closed")
    add_session(group, utcnow() - datetime.timedelta(days=1), status="held")
    login(client, provider)

    page = client.get(f"/groups/{group.id}").text
    assert "its first session has already taken place" in page
    assert f'action="/groups/{group.id}/enroll"' not in page
    before = User.select().count()
    response = client.post(
        f"/groups/{group.id}/members/new",
        data={"name": "New Person", "email": "new@example.org", "timezone": "UTC"},
    )
    assert response.status_code == 302
    assert User.select().count() == before


def test_a_deactivated_account_holds_no_seat_and_waits_for_none(make_user, provider):
    admin = make_user("admin")
    group = new_group(provider, capacity=2)
    leaving, staying, waiting, newcomer = (make_user("member") for _ in range(4))
    enroll_all(group, [leaving, staying, waiting])
    assert statuses(group)[waiting.id] == "waitlisted"
    accounts.set_active(waiting, False, changed_by=admin)
    accounts.set_active(leaving, False, changed_by=admin)

    assert [e.member_id for e in Enrollment.active_in(group)] == [staying.id]
    assert list(enrollment_service.waitlist(group)) == []
    # The seat the deactivated member held is free again for someone new.
    assert enrollment_service.enroll(group, newcomer, by=provider).status == "active"
