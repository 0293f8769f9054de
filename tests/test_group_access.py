"""Object-level access: every group, session, enrollment, module and member URL.

Provider B reaches nothing of provider A's group by changing an id (404, and
nothing changes); a member reaches no provider page (403) and no other
group's session (404); a co-facilitator runs the group; an admin sees all.
"""

from __future__ import annotations

import datetime

import pytest

from groups.models import (
    AuditLog,
    CoFacilitator,
    Enrollment,
    Group,
    Module,
    Session,
    User,
)
from tests.checks import count_queries
from tests.world import UTC, enroll_all, login, new_group, weekly

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class World:
    """Provider A's group and provider B's group, each with sessions and members."""


@pytest.fixture
def world(app, make_user, frozen_time):
    frozen_time.set(NOW)
    w = World()
    w.a = make_user("provider", name="Dr. Anna Alpha")
    w.b = make_user("provider", name="Dr. Ben Beta")
    w.co = make_user("provider", name="Dr. Cora Co")
    w.admin = make_user("admin")
    w.ga = new_group(w.a, name="Alpha group", co_facilitators=[w.co], capacity=2)
    w.gb = new_group(w.b, name="Beta group")
    w.sa = weekly(w.ga, datetime.date(2026, 12, 7), count=3)[0]
    w.sb = weekly(w.gb, datetime.date(2026, 12, 8), count=3)[0]
    w.m1 = make_user("member", name="Mina Member", email="mina@example.org")
    w.m2 = make_user("member", name="Otto Other", email="otto@example.org")
    w.m3 = make_user("member", name="Wally Waiting", email="wally@example.org")
    w.mb = make_user("member", name="Bea Beta", email="bea@example.org")
    w.ea, _, w.ea_wait = enroll_all(w.ga, [w.m1, w.m2, w.m3])
    (w.eb,) = enroll_all(w.gb, [w.mb])
    w.moda = Module.select().where(Module.group == w.ga).order_by(Module.position).first()
    w.modb = Module.select().where(Module.group == w.gb).order_by(Module.position).first()
    return w


def snapshot():
    """Every row a group page could change."""
    return [
        list(model.select().order_by(model.id).tuples())
        for model in (Group, CoFacilitator, Module, Session, Enrollment, User)
    ] + [AuditLog.select().where(AuditLog.action != "login").count()]


GOOD_POSTS = {
    "edit": {
        "name": "Taken over",
        "focus": "anxiety",
        "capacity": "10",
        "format": "open",
        "location": "Room 1",
        "timezone": "UTC",
        "status": "active",
    },
    "schedule": {
        "start_date": "2027-01-04",
        "weekday": "0",
        "start_time": "10:00",
        "duration_minutes": "60",
        "session_count": "4",
    },
    "makeup": {"date": "2026-12-20", "time": "10:00", "duration_minutes": "60"},
    "module": {"title": "Renamed", "purpose": "x"},
    "enroll": {"email": "bea@example.org"},
    "new_member": {"name": "Intruder", "email": "new@example.org", "timezone": "UTC"},
    "reason": {"reason": "Because"},
    "move": {"date": "2026-12-21", "time": "09:00"},
}


def group_urls(g, s, e, m, module):
    """(method, url, data) for every group-scoped URL, built from the given ids."""
    return [
        ("GET", f"/groups/{g}", None),
        ("GET", f"/groups/{g}/edit", None),
        ("POST", f"/groups/{g}/edit", GOOD_POSTS["edit"]),
        ("GET", f"/groups/{g}/schedule", None),
        ("POST", f"/groups/{g}/schedule", GOOD_POSTS["schedule"]),
        ("GET", f"/groups/{g}/makeup", None),
        ("POST", f"/groups/{g}/makeup", GOOD_POSTS["makeup"]),
        ("GET", f"/groups/{g}/curriculum", None),
        ("POST", f"/groups/{g}/curriculum", GOOD_POSTS["module"]),
        ("GET", f"/groups/{g}/curriculum/{module}", None),
        ("POST", f"/groups/{g}/curriculum/{module}", GOOD_POSTS["module"]),
        ("POST", f"/groups/{g}/curriculum/{module}/up", {}),
        ("POST", f"/groups/{g}/curriculum/{module}/down", {}),
        ("POST", f"/groups/{g}/curriculum/{module}/remove", {}),
        ("POST", f"/groups/{g}/enroll", GOOD_POSTS["enroll"]),
        ("GET", f"/groups/{g}/members/new", None),
        ("POST", f"/groups/{g}/members/new", GOOD_POSTS["new_member"]),
        ("GET", f"/groups/{g}/enrollments/{e}/withdraw", None),
        ("POST", f"/groups/{g}/enrollments/{e}/withdraw", GOOD_POSTS["reason"]),
        ("GET", f"/groups/{g}/members/{m}", None),
    ]


def session_urls(s):
    return [
        ("GET", f"/sessions/{s}", None),
        ("GET", f"/sessions/{s}/cancel", None),
        ("POST", f"/sessions/{s}/cancel", GOOD_POSTS["reason"]),
        ("GET", f"/sessions/{s}/reschedule", None),
        ("POST", f"/sessions/{s}/reschedule", GOOD_POSTS["move"]),
    ]


def request(client, method, url, data):
    if method == "GET":
        return client.get(url)
    return client.post(url, data=data)


def a_urls(w):
    return group_urls(w.ga.id, w.sa.id, w.ea.id, w.m1.id, w.moda.id) + session_urls(w.sa.id)


def test_provider_b_gets_404_for_every_url_of_provider_a(client, world):
    w = world
    login(client, w.b)
    before = snapshot()
    for method, url, data in a_urls(w):
        response = request(client, method, url, data)
        assert response.status_code == 404, (method, url, response.status_code)
        assert "Alpha group" not in response.text
        assert "Mina Member" not in response.text
    assert snapshot() == before


def test_provider_b_cannot_reach_a_objects_through_its_own_group(client, world):
    """B's own group id in the URL, but a foreign module / enrollment / member id."""
    w = world
    login(client, w.b)
    before = snapshot()
    mixed = group_urls(w.gb.id, w.sb.id, w.ea.id, w.m1.id, w.moda.id)
    foreign = [
        (method, url, data)
        for method, url, data in mixed
        if "/curriculum/" in url or "/enrollments/" in url or "/members/" in url
    ]
    foreign = [f for f in foreign if not f[1].endswith("/members/new")]
    assert len(foreign) == 8
    for method, url, data in foreign:
        response = request(client, method, url, data)
        assert response.status_code == 404, (method, url, response.status_code)
    assert snapshot() == before


def test_a_member_of_only_a_foreign_group_is_not_reachable(client, world):
    w = world
    login(client, w.a)
    # Bea is enrolled in B's group only.
    assert client.get(f"/groups/{w.ga.id}/members/{w.mb.id}").status_code == 404
    assert client.get(f"/groups/{w.ga.id}/enrollments/{w.eb.id}/withdraw").status_code == 404


def test_provider_lists_show_only_own_groups(client, world):
    w = world
    login(client, w.b)
    for url in ("/groups/", "/home"):
        page = client.get(url).text
        assert "Beta group" in page
        assert "Alpha group" not in page


@pytest.mark.parametrize("who", ["lead", "co", "admin"])
def test_lead_co_facilitator_and_admin_run_the_group(client, world, who):
    w = world
    user = {"lead": w.a, "co": w.co, "admin": w.admin}[who]
    login(client, user)
    for method, url, _data in a_urls(w):
        if method == "GET":
            assert client.get(url).status_code == 200, url
    # Running it: enroll, cancel, move, make-up, withdraw.
    new = User.create(email="newbie@example.org", name="Newbie", role="member")
    assert client.post(f"/groups/{w.ga.id}/enroll", data={"email": new.email}).status_code == 302
    sessions = list(Session.select().where(Session.group == w.ga).order_by(Session.starts_at))
    assert (
        client.post(f"/sessions/{sessions[0].id}/cancel", data={"reason": "Ill"}).status_code == 302
    )
    assert (
        client.post(f"/sessions/{sessions[1].id}/reschedule", data=GOOD_POSTS["move"]).status_code
        == 302
    )
    assert client.post(f"/groups/{w.ga.id}/makeup", data=GOOD_POSTS["makeup"]).status_code == 302
    assert (
        client.post(
            f"/groups/{w.ga.id}/enrollments/{w.ea.id}/withdraw", data=GOOD_POSTS["reason"]
        ).status_code
        == 302
    )
    assert Enrollment.get_by_id(w.ea.id).status == "withdrawn"
    assert Enrollment.get_by_id(w.ea_wait.id).status == "active"  # promoted
    assert Session.get_by_id(sessions[0].id).status == "cancelled"


def test_admin_sees_both_groups(client, world):
    login(client, world.admin)
    page = client.get("/groups/").text
    assert "Alpha group" in page and "Beta group" in page
    assert client.get(f"/groups/{world.gb.id}").status_code == 200
    assert client.get(f"/sessions/{world.sb.id}").status_code == 200


def test_removed_co_facilitator_loses_access(client, world):
    w = world
    CoFacilitator.delete().where(CoFacilitator.group == w.ga).execute()
    login(client, w.co)
    assert client.get(f"/groups/{w.ga.id}").status_code == 404
    assert client.get(f"/sessions/{w.sa.id}").status_code == 404


def test_member_gets_403_on_every_provider_page(client, world):
    w = world
    login(client, w.m1)
    before = snapshot()
    staff_only = [u for u in a_urls(w) if u[1] != f"/sessions/{w.sa.id}"]
    staff_only += [
        ("GET", "/groups/", None),
        ("GET", "/groups/new", None),
        ("POST", "/groups/new", GOOD_POSTS["edit"]),
        ("GET", "/home", None),
        ("GET", "/admin/closures", None),
        ("POST", "/admin/closures", {"date": "2027-01-01"}),
    ]
    for method, url, data in staff_only:
        response = request(client, method, url, data)
        assert response.status_code == 403, (method, url, response.status_code)
    assert snapshot() == before


def test_member_reaches_own_sessions_only(client, world):
    w = world
    login(client, w.m1)
    assert client.get(f"/sessions/{w.sa.id}").status_code == 200
    assert client.get(f"/sessions/{w.sb.id}").status_code == 404
    assert client.get("/sessions/999999").status_code == 404
    # A waitlisted member does not reach the group's sessions yet.
    login(client, w.m3)
    assert client.get(f"/sessions/{w.sa.id}").status_code == 404


def test_provider_cannot_use_member_pages(client, world):
    login(client, world.a)
    assert client.get("/schedule").status_code == 403


def test_anonymous_is_sent_to_login(client, world):
    for method, url, data in a_urls(world) + [("GET", "/schedule", None)]:
        response = request(client, method, url, data)
        assert response.status_code == 302, url
        assert "/login" in response.headers["Location"]


def test_member_pages_never_show_another_members_name(client, world):
    w = world
    others = ["Otto Other", "otto@example.org", "Wally Waiting", "wally@example.org", "Bea Beta"]
    staff = ["Dr. Anna Alpha", "Dr. Cora Co"]  # not needed by members either
    login(client, w.m1)
    pages = [client.get("/schedule").text]
    for s in list(Session.select().where(Session.group == w.ga)):
        pages.append(client.get(f"/sessions/{s.id}").text)
    assert "Alpha group" in pages[0]
    for page in pages:
        for name in others + staff:
            assert name not in page

    login(client, w.m3)  # waitlisted
    page = client.get("/schedule").text
    assert "waitlist" in page
    for name in ["Mina Member", "mina@example.org", "Otto Other"]:
        assert name not in page


def test_member_schedule_and_group_page_query_counts_do_not_grow(client, make_user, frozen_time):
    """3 members / 4 sessions and 12 members / 40 sessions run the same number of queries."""
    frozen_time.set(NOW)
    provider = make_user("provider")

    def build(members, sessions, tag, at):
        group = new_group(provider, name=f"Group {tag}", capacity=members)
        weekly(group, datetime.date(2026, 12, 7), count=sessions, at=at)  # one provider: no overlap
        people = [make_user("member", name=f"{tag} member {i}") for i in range(members)]
        enroll_all(group, people)
        # A cancelled session with its reason, as members see them.
        second = Session.select().where(Session.group == group).order_by(Session.id)[1]
        Session.update(status="cancelled", cancel_reason="Snow").where(
            Session.id == second.id
        ).execute()
        return group, people[0]

    def count(client, user, url):
        login(client, user)
        client.get(url)  # warm up anything cached per process
        with count_queries() as q:
            assert client.get(url).status_code == 200
        return q.n

    small, small_member = build(3, 4, "small", datetime.time(10))
    large, large_member = build(12, 40, "large", datetime.time(18))

    # Pinned, not only constant: the user, the group, then modules, sessions,
    # seats, facilitators, held attendance, closures and open safety alerts.
    assert count(client, provider, f"/groups/{small.id}") == 9
    assert count(client, provider, f"/groups/{large.id}") == 9
    # The user, then the sessions of their groups, the groups they wait for,
    # and the check-in (their enrollments with plans, their groups' sessions
    # with the answers given).
    assert count(client, small_member, "/schedule") == 5
    assert count(client, large_member, "/schedule") == 5
