"""Groups and their curricula: create, edit, archive, bad input, module changes, pages."""

from __future__ import annotations

import datetime

import pytest

from groups.curricula import FOCUSES, default_curriculum
from groups.models import AuditLog, CoFacilitator, Group, Module
from tests.checks import count_queries, field_error, module_titles
from tests.world import UTC, add_session, enroll_all, login, new_group, weekly

NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def now(frozen_time):
    frozen_time.set(NOW)
    return frozen_time


def group_form(**overrides):
    data = {
        "name": "Thursday evening anxiety group",
        "focus": "anxiety",
        "description": "Skills for everyday anxiety.",
        "capacity": "8",
        "format": "closed",
        "location": "Room 3, 2nd floor",
        "timezone": "America/Chicago",
        "status": "active",
    }
    data.update(overrides)
    return data


def snapshot():
    """Everything a group form could change."""
    return (
        [tuple(g.__data__.items()) for g in Group.select().order_by(Group.id)],
        list(CoFacilitator.select().tuples()),
        Module.select().count(),
        AuditLog.select().count(),
    )


# --- curricula ---------------------------------------------------------------


@pytest.mark.parametrize("focus", FOCUSES)
def test_each_focus_ships_8_to_12_ordered_modules(focus):
    modules = default_curriculum(focus)
    assert 8 <= len(modules) <= 12
    assert all(m.title and m.purpose for m in modules)
    assert len({m.key for m in modules}) == len(modules)


def test_a_new_group_starts_with_its_focus_curriculum(client, make_user):
    provider = make_user("provider")
    login(client, provider)
    response = client.post("/groups/new", data=group_form(focus="adhd"))
    assert response.status_code == 302
    group = Group.get()
    assert response.headers["Location"].endswith(f"/groups/{group.id}/schedule")
    assert group.lead_id == provider.id
    assert (group.focus, group.capacity, group.format, group.timezone) == (
        "adhd",
        8,
        "closed",
        "America/Chicago",
    )
    modules = list(Module.select().where(Module.group == group).order_by(Module.position))
    assert [m.title for m in modules] == [m.title for m in default_curriculum("adhd")]
    assert [m.position for m in modules] == list(range(1, len(modules) + 1))
    assert AuditLog.get(AuditLog.action == "group_created").target_id == group.id


def test_curriculum_rename_reorder_add_remove(client, make_user, now):
    provider = make_user("provider")
    group = new_group(provider)
    weekly(group, datetime.date(2026, 12, 7), count=12)
    login(client, provider)
    titles = [m.title for m in default_curriculum("anxiety")]

    def modules():
        return list(Module.select().where(Module.group == group).order_by(Module.position))

    first, second = modules()[:2]

    # Rename: the sessions that cover it show the new title.
    response = client.post(
        f"/groups/{group.id}/curriculum/{first.id}",
        data={"title": "What anxiety is", "purpose": "The basics."},
    )
    assert response.status_code == 302
    assert modules()[0].title == "What anxiety is"
    assert module_titles(group)[0] == "What anxiety is"

    # Reorder: the second module moves up and the sessions follow the new order.
    assert client.post(f"/groups/{group.id}/curriculum/{second.id}/up").status_code == 302
    assert [m.id for m in modules()[:2]] == [second.id, first.id]
    assert module_titles(group)[:2] == [titles[1], "What anxiety is"]

    # Add: a new module at the end; the sessions pick it up after module 10.
    response = client.post(
        f"/groups/{group.id}/curriculum", data={"title": "Review and goodbyes", "purpose": ""}
    )
    assert response.status_code == 302
    assert modules()[-1].title == "Review and goodbyes"
    assert modules()[-1].position == 11
    assert module_titles(group)[10] == "Review and goodbyes"

    # Remove: positions close up and no session points at the removed module.
    removed = modules()[2]
    assert client.post(f"/groups/{group.id}/curriculum/{removed.id}/remove").status_code == 302
    assert [m.position for m in modules()] == list(range(1, 11))
    assert removed.title not in module_titles(group)
    assert module_titles(group)[:10] == [m.title for m in modules()]

    page = client.get(f"/groups/{group.id}/curriculum").text
    assert "Review and goodbyes" in page


def test_bad_module_input_changes_nothing(client, make_user):
    provider = make_user("provider")
    group = new_group(provider)
    login(client, provider)
    before = snapshot()
    response = client.post(f"/groups/{group.id}/curriculum", data={"title": "", "purpose": "x"})
    assert response.status_code == 422
    assert field_error(response.text, "title")
    first = Module.select().where(Module.group == group).order_by(Module.position).first()
    response = client.post(
        f"/groups/{group.id}/curriculum/{first.id}", data={"title": "x" * 121, "purpose": ""}
    )
    assert field_error(response.text, "title")
    assert snapshot() == before


def test_a_module_covered_in_a_held_session_cannot_be_removed(client, make_user, now):
    provider = make_user("provider")
    group = new_group(provider)
    first = Module.select().where(Module.group == group).order_by(Module.position).first()
    add_session(group, NOW - datetime.timedelta(days=7), status="held", module=first)
    login(client, provider)
    response = client.post(
        f"/groups/{group.id}/curriculum/{first.id}/remove", follow_redirects=True
    )
    assert "stays in the curriculum" in response.text
    assert Module.get_or_none(Module.id == first.id) is not None


def test_the_last_module_cannot_be_removed(client, make_user):
    provider = make_user("provider")
    group = new_group(provider)
    modules = list(Module.select().where(Module.group == group))
    login(client, provider)
    for module in modules:
        client.post(f"/groups/{group.id}/curriculum/{module.id}/remove")
    assert Module.select().where(Module.group == group).count() == 1


# --- create and edit ----------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("capacity", "0", "Capacity must be from 1 to 50."),
        ("capacity", "51", "Capacity must be from 1 to 50."),
        ("capacity", "", "Enter a number from 1 to 50."),
        ("capacity", "ten", "Capacity must be from 1 to 50."),
        ("timezone", "Mars/Olympus_Mons", "Unknown time zone"),
        ("timezone", "EST5EDT2", "Unknown time zone"),
        ("location", "javascript:alert(1)", "must start with http:// or https://"),
        ("location", "JavaScript:alert(document.cookie)", "must start with http:// or https://"),
        ("location", "ftp://x", "must start with http:// or https://"),
        ("location", "data:text/html,<b>hi</b>", "must start with http:// or https://"),
        ("location", "https://", "must start with http:// or https://"),
        ("location", "", "This field is required."),
        ("name", "", "This field is required."),
        ("focus", "insomnia", "Not a valid choice"),
        ("format", "rolling", "Not a valid choice"),
        ("status", "deleted", "Not a valid choice"),
    ],
)
def test_bad_group_input_is_refused_next_to_the_field(client, make_user, field, value, message):
    provider = make_user("provider")
    login(client, provider)
    before = snapshot()
    response = client.post("/groups/new", data=group_form(**{field: value}))
    assert response.status_code == 422
    assert message in field_error(response.text, field).replace("&#39;", "'")
    # What the user typed in the other fields is still there.
    assert 'value="Thursday evening anxiety group"' in response.text or field == "name"
    assert snapshot() == before


def test_video_links_and_rooms_are_accepted(client, make_user):
    provider = make_user("provider")
    login(client, provider)
    for location in ("https://video.example.org/room/42", "Room 3, 2nd floor"):
        response = client.post("/groups/new", data=group_form(location=location))
        assert response.status_code == 302
    assert [g.location for g in Group.select().order_by(Group.id)] == [
        "https://video.example.org/room/42",
        "Room 3, 2nd floor",
    ]


def test_a_foreign_id_as_co_facilitator_is_refused(client, make_user):
    provider = make_user("provider")
    member = make_user("member")
    login(client, provider)
    before = snapshot()
    for bad in (str(member.id), "99999", "abc"):
        response = client.post("/groups/new", data={**group_form(), "co_facilitators": bad})
        assert response.status_code == 422
        assert field_error(response.text, "co_facilitators")
    assert snapshot() == before


def test_a_provider_cannot_hand_a_group_to_someone_else(client, make_user):
    provider = make_user("provider")
    other = make_user("provider")
    login(client, provider)
    client.post("/groups/new", data={**group_form(), "lead": str(other.id)})
    assert Group.get().lead_id == provider.id
    group = Group.get()
    client.post(f"/groups/{group.id}/edit", data={**group_form(), "lead": str(other.id)})
    assert Group.get_by_id(group.id).lead_id == provider.id


def test_edit_and_archive_a_group(client, make_user):
    provider = make_user("provider")
    co = make_user("provider", name="Dr. Co")
    group = new_group(provider)
    login(client, provider)
    page = client.get(f"/groups/{group.id}/edit")
    assert 'value="Tuesday anxiety group"' in page.text
    response = client.post(
        f"/groups/{group.id}/edit",
        data={
            **group_form(name="Renamed group", capacity="12"),
            "co_facilitators": [str(co.id)],
        },
    )
    assert response.status_code == 302
    group = Group.get_by_id(group.id)
    assert (group.name, group.capacity) == ("Renamed group", 12)
    assert [c.provider_id for c in group.co_facilitators] == [co.id]
    entry = AuditLog.get(AuditLog.action == "group_changed")
    assert "capacity" in entry.detail and "name" in entry.detail

    client.post(f"/groups/{group.id}/edit", data=group_form(status="archived"))
    assert Group.get_by_id(group.id).status == "archived"
    assert not CoFacilitator.select().where(CoFacilitator.group == group).exists()


def test_changing_the_focus_before_any_session_swaps_the_curriculum(client, make_user, now):
    provider = make_user("provider")
    group = new_group(provider)
    login(client, provider)
    client.post(f"/groups/{group.id}/edit", data=group_form(focus="depression"))
    titles = [
        m.title for m in Module.select().where(Module.group == group).order_by(Module.position)
    ]
    assert titles == [m.title for m in default_curriculum("depression")]

    weekly(group, datetime.date(2026, 12, 7), count=2)
    response = client.post(f"/groups/{group.id}/edit", data=group_form(focus="adhd"))
    assert response.status_code == 422
    assert "cannot change once sessions exist" in field_error(response.text, "focus")
    assert Group.get_by_id(group.id).focus == "depression"
    assert module_titles(group)[0] == titles[0]


def test_raising_capacity_promotes_the_waitlist(client, make_user):
    provider = make_user("provider")
    group = new_group(provider, capacity=1)
    first, second, third = (make_user("member") for _ in range(3))
    enroll_all(group, [first, second, third])
    login(client, provider)
    client.post(f"/groups/{group.id}/edit", data=group_form(capacity="2"))
    statuses = {e.member_id: e.status for e in group.enrollments}
    assert statuses == {first.id: "active", second.id: "active", third.id: "waitlisted"}


# --- lists and pages ----------------------------------------------------------


def test_admin_sees_every_group_and_filters(client, make_user):
    a = make_user("provider", name="Dr. Alpha")
    b = make_user("provider", name="Dr. Beta")
    new_group(a, name="Alpha anxiety", focus="anxiety")
    new_group(b, name="Beta depression", focus="depression", status="draft")
    new_group(b, name="Beta ADHD", focus="adhd")
    admin = make_user("admin")
    login(client, admin)

    def names(query=""):
        text = client.get("/groups/" + query).text
        return [n for n in ("Alpha anxiety", "Beta depression", "Beta ADHD") if n in text]

    assert names() == ["Alpha anxiety", "Beta depression", "Beta ADHD"]
    assert names("?focus=adhd") == ["Beta ADHD"]
    assert names(f"?provider={b.id}") == ["Beta depression", "Beta ADHD"]
    assert names("?status=draft") == ["Beta depression"]
    assert names(f"?provider={a.id}&focus=depression") == []

    login(client, a)
    assert names() == ["Alpha anxiety"]
    assert client.get(f"/groups/?provider={b.id}").text.count("Beta") == 0


def test_group_page_shows_details_sessions_roster_and_waitlist(client, make_user, now):
    provider = make_user("provider", name="Dr. Lead")
    co = make_user("provider", name="Dr. Helper")
    group = new_group(provider, co_facilitators=[co], capacity=1)
    weekly(group, datetime.date(2026, 12, 7), count=3)
    active = make_user("member", name="Ada Active")
    waiting = make_user("member", name="Wanda Waiting")
    enroll_all(group, [active, waiting])
    login(client, provider)
    page = client.get(f"/groups/{group.id}").text
    for text in (
        "Tuesday anxiety group",
        "Dr. Lead",
        "Dr. Helper",
        "Ada Active",
        "Wanda Waiting",
        "Waitlist",
        "1 of 1 seats taken, 1 waiting",
        "Understanding anxiety",
        "Mon 07 Dec 2026, 18:00",
    ):
        assert text in page


def test_provider_home_lists_groups_today_and_counts(client, make_user, now):
    provider = make_user("provider")
    group = new_group(provider, name="Home group", capacity=1)
    # 12:00 UTC is 07:00 in New York: a 10:00 local session is today.
    add_session(group, datetime.datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    add_session(group, datetime.datetime(2026, 12, 8, 15, 0, tzinfo=UTC))
    enroll_all(group, [make_user("member"), make_user("member")])
    login(client, provider)
    page = client.get("/home").text
    assert "Home group" in page
    assert "No sessions today" not in page
    assert "<strong>10:00</strong>" in page
    assert '<td data-label="Waitlist">1</td>' in page
    assert "Tue 01 Dec 2026, 10:00" in page  # next session


def test_group_list_runs_a_fixed_number_of_queries(client, make_user, now):
    provider = make_user("provider")
    login(client, provider)

    def queries():
        with count_queries() as q:
            assert client.get("/groups/").status_code == 200
            assert client.get("/home").status_code == 200
        return q.n

    new_group(provider, name="One")
    few = queries()
    for i in range(6):
        group = new_group(provider, name=f"Group {i}")
        add_session(group, NOW + datetime.timedelta(days=i + 1))
        enroll_all(group, [make_user("member")])
    assert queries() == few


def test_admin_picks_the_lead_and_a_foreign_lead_id_is_refused(client, make_user):
    admin = make_user("admin")
    provider = make_user("provider", name="Dr. Chosen")
    member = make_user("member")
    login(client, admin)
    before = snapshot()
    for bad in (str(member.id), str(admin.id), "99999"):
        response = client.post("/groups/new", data={**group_form(), "lead": bad})
        assert response.status_code == 422
        assert "Not a valid choice" in field_error(response.text, "lead")
    assert snapshot() == before
    response = client.post("/groups/new", data={**group_form(), "lead": str(provider.id)})
    assert response.status_code == 302
    group = Group.get()
    assert group.lead_id == provider.id
    other = make_user("provider")
    response = client.post(f"/groups/{group.id}/edit", data={**group_form(), "lead": str(other.id)})
    assert response.status_code == 302
    assert Group.get_by_id(group.id).lead_id == other.id


def test_a_provider_is_not_offered_as_their_own_co_facilitator(client, make_user):
    from tests.world import login

    lead = make_user("provider", name="Dr. Lead Person")
    make_user("provider", name="Dr. Other Person")
    login(client, lead)

    page = client.get("/groups/new").text
    co_select = page[page.index('id="co_facilitators"') :]
    co_select = co_select[: co_select.index("</select>")]
    assert "Dr. Other Person" in co_select
    assert "Dr. Lead Person" not in co_select
