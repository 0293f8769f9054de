"""CSV export, private session notes, access rules and query counts for attendance pages."""

from __future__ import annotations

import csv
import datetime
import io

import pytest

from groups.models import Attendance, AuditLog, CatchUpDone, CoFacilitator, SessionNote
from groups.services.attendance import safe_cell
from tests.checks import count_queries, roster_form
from tests.world import attendance_world, login

# CSV ------------------------------------------------------------------------------


def test_csv_neutralises_formulas_and_parses(client, make_user, frozen_time):
    names = ['=HYPERLINK("http://x")', "+Plus Start", "-Minus", "@At", "José Álvarez"]
    setup = attendance_world(frozen_time, names=names, sessions=2)
    setup.mark(0, "present", notes={setup.members[4]: "Secret attendance note"})
    setup.mark(
        1,
        {
            m: s
            for m, s in zip(
                setup.members, ["late", "absent", "excused", "present", "present"], strict=True
            )
        },
    )
    login(client, setup.lead)
    response = client.get(f"/groups/{setup.group.id}/attendance.csv")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    text = response.data.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "Member",
        "Enrollment",
        "2026-01-06 18:00",
        "2026-01-13 18:00",
        "Attended",
        "Recorded",
        "Excused",
        "Rate (%)",
    ]
    by_name = {row[0]: row for row in rows[1:]}
    assert by_name['\'=HYPERLINK("http://x")'][2:] == ["Present", "Late", "2", "2", "0", "100"]
    assert "'+Plus Start" in by_name and "'-Minus" in by_name and "'@At" in by_name
    assert by_name["José Álvarez"][2:] == ["Present", "Present", "2", "2", "0", "100"]
    # Excused is its own column and leaves the rate alone: 1 attended of 1 counted.
    assert by_name["'-Minus"][2:] == ["Present", "Excused", "1", "2", "1", "100"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    assert "Secret attendance note" not in text
    entry = AuditLog.select().where(AuditLog.action == "attendance_exported").get()
    assert entry.target_id == setup.group.id and entry.actor_id == setup.lead.id


def test_safe_cell():
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("\tx") == "'\tx"
    assert safe_cell("\rx") == "'\rx"
    assert safe_cell("Plain") == "Plain"
    assert safe_cell(12) == "12"


# Private session notes -----------------------------------------------------------


def test_provider_keeps_a_private_note_and_it_is_audited(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1)
    session = setup.at_session(0)
    login(client, setup.lead)
    page = client.get(f"/sessions/{session.id}/note")
    assert page.status_code == 200
    version = roster_form(page.get_data(as_text=True)).get("version", "")
    text = "Covered the anxiety cycle; A. quiet today."
    response = client.post(f"/sessions/{session.id}/note", data={"text": text, "version": version})
    assert response.status_code == 302
    assert SessionNote.get().text == text
    assert text in client.get(f"/sessions/{session.id}/note").get_data(as_text=True)
    actions = [a.action for a in AuditLog.select().where(AuditLog.target_id == session.id)]
    assert actions.count("note_viewed") == 2 and actions.count("note_changed") == 1
    assert all(text not in a.detail for a in AuditLog.select())


def test_note_over_2000_characters_is_refused(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1)
    session = setup.at_session(0)
    login(client, setup.lead)
    response = client.post(f"/sessions/{session.id}/note", data={"text": "x" * 2001, "version": ""})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="text-error">Keep the note to 2,000 characters or fewer' in html
    assert "x" * 2001 in html  # what they typed is not lost
    assert SessionNote.select().count() == 0


def test_stale_note_is_not_overwritten(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1)
    session = setup.at_session(0)
    login(client, setup.lead)
    client.post(f"/sessions/{session.id}/note", data={"text": "First version", "version": ""})
    response = client.post(
        f"/sessions/{session.id}/note", data={"text": "Other tab", "version": ""}
    )
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert "changed elsewhere" in html and "First version" in html and "Other tab" in html
    assert SessionNote.get().text == "First version"


def test_co_facilitator_reads_notes_admin_and_members_do_not(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1)
    co = make_user("provider")
    CoFacilitator.create(group=setup.group, provider=co)
    session = setup.at_session(0)
    SessionNote.create(session=session, text="Clinical observation XYZ", updated_by=setup.lead)
    login(client, co)
    assert "Clinical observation XYZ" in client.get(f"/sessions/{session.id}/note").get_data(
        as_text=True
    )
    login(client, make_user("admin"))
    assert client.get(f"/sessions/{session.id}/note").status_code == 403
    member = setup.members[0]
    login(client, member)
    assert client.get(f"/sessions/{session.id}/note").status_code == 403
    for url in (f"/sessions/{session.id}", "/schedule", "/progress"):
        html = client.get(url).get_data(as_text=True)
        assert "Clinical observation XYZ" not in html
        assert f"/sessions/{session.id}/note" not in html


# Access ----------------------------------------------------------------------------


def urls(setup, session, module):
    group_id, member_id = setup.group.id, setup.members[0].id
    return [
        ("get", f"/sessions/{session.id}/attendance"),
        ("post", f"/sessions/{session.id}/attendance"),
        ("get", f"/groups/{group_id}/attendance.csv"),
        ("get", f"/groups/{group_id}/pacing"),
        ("post", f"/groups/{group_id}/members/{member_id}/catch-ups/{module.id}"),
        ("get", f"/sessions/{session.id}/note"),
        ("post", f"/sessions/{session.id}/note"),
    ]


@pytest.mark.parametrize("who, expected", [("other_provider", 404), ("member", 403)])
def test_other_provider_and_members_cannot_reach_attendance(
    client, make_user, frozen_time, who, expected
):
    setup = attendance_world(frozen_time, members=2, sessions=2, modules=2)
    first, second = setup.members
    setup.mark(0, {first: "absent", second: "present"})
    session, module = setup.session(0), setup.modules()[0]
    user = make_user("provider") if who == "other_provider" else setup.members[1]
    login(client, user)
    before = {r.member_id: r.status for r in Attendance.select()}
    for method, url in urls(setup, session, module):
        data = {f"status-{first.id}": "present", f"status-{second.id}": "present", "text": "x"}
        response = getattr(client, method)(url, data=data) if method == "post" else client.get(url)
        assert response.status_code == expected, (method, url)
    assert {r.member_id: r.status for r in Attendance.select()} == before
    assert SessionNote.select().count() == 0 and CatchUpDone.select().count() == 0
    assert not AuditLog.select().where(AuditLog.action == "attendance_exported").exists()


def test_anonymous_is_sent_to_login(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=1, sessions=1, modules=1)
    session, module = setup.session(0), setup.modules()[0]
    for method, url in urls(setup, session, module) + [("get", "/progress")]:
        response = getattr(client, method)(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_provider_cannot_open_member_progress_page(client, make_user):
    login(client, make_user("provider"))
    assert client.get("/progress").status_code == 403


def test_member_page_shows_nothing_about_other_members(client, make_user, frozen_time):
    setup = attendance_world(frozen_time, members=3, sessions=2)
    a, b, c = setup.members
    setup.mark(0, {a: "present", b: "absent", c: "late"})
    setup.mark(1, {a: "present", b: "absent", c: "late"})
    login(client, a)
    for url in ("/progress", "/schedule", f"/sessions/{setup.session(0).id}"):
        html = client.get(url).get_data(as_text=True)
        for other in (b, c):
            assert other.name not in html and other.email not in html, url
    assert client.get(f"/sessions/{setup.session(0).id}/attendance").status_code == 403


# Query counts ----------------------------------------------------------------------


def page_queries(client, setup) -> dict[str, int]:
    group_id, session = setup.group.id, setup.sessions()[0]
    pages = {
        "roster": f"/sessions/{session.id}/attendance",
        "pacing board": f"/groups/{group_id}/pacing",
        "csv": f"/groups/{group_id}/attendance.csv",
        "group page": f"/groups/{group_id}",
        "member record": f"/groups/{group_id}/members/{setup.members[0].id}",
        "provider home": "/home",
    }
    counts = {}
    for label, url in pages.items():
        with count_queries() as q:
            assert client.get(url).status_code == 200, url
        counts[label] = q.n
    return counts


def test_query_counts_do_not_grow_with_members_or_sessions(app, make_user, frozen_time):
    results = []
    for members, sessions in ((2, 2), (9, 6)):
        client = app.test_client()
        lead = make_user("provider")
        setup = attendance_world(frozen_time, members=members, sessions=sessions, lead=lead)
        for n in range(sessions):
            setup.mark(
                n, {m: ("absent" if i % 3 == 0 else "present") for i, m in enumerate(setup.members)}
            )
        login(client, lead)
        results.append(page_queries(client, setup))
    assert results[0] == results[1]


def test_member_progress_query_count_is_fixed(app, make_user, frozen_time):
    counts = []
    for sessions in (1, 5):
        client = app.test_client()
        setup = attendance_world(frozen_time, members=2, sessions=sessions)
        for n in range(sessions):
            setup.mark(n, "present")
        login(client, setup.members[0])
        with count_queries() as q:
            assert client.get("/progress").status_code == 200
        counts.append(q.n)
    assert counts[0] == counts[1]


def test_roster_save_query_count_is_bounded(app, make_user, frozen_time):
    """A save is one transaction; its statements grow only with the audit rows it writes."""
    counts = []
    for members in (2, 6):
        client = app.test_client()
        setup = attendance_world(frozen_time, members=members, sessions=1)
        session = setup.at_session(0)
        login(client, setup.lead)
        form = roster_form(client.get(f"/sessions/{session.id}/attendance").get_data(as_text=True))
        form.update({f"status-{m.id}": "present" for m in setup.members})
        with count_queries() as q:
            assert client.post(f"/sessions/{session.id}/attendance", data=form).status_code == 302
        counts.append(q.n - members)  # one audit insert per member
    assert counts[0] == counts[1]


def test_session_page_offers_attendance_from_15_minutes_before_the_start(
    client, make_user, frozen_time
):
    from tests.world import add_session, new_group

    frozen_time.set(datetime.datetime(2026, 3, 10, 15, 0, tzinfo=datetime.UTC))  # 11:00 NY
    provider = make_user("provider")
    group = new_group(provider)
    tonight = add_session(group, datetime.datetime(2026, 3, 10, 22, 0, tzinfo=datetime.UTC))
    next_week = add_session(group, datetime.datetime(2026, 3, 17, 22, 0, tzinfo=datetime.UTC))
    login(client, provider)

    page = client.get(f"/sessions/{tonight.id}").text
    assert "Take attendance" not in page
    assert "Attendance opens 15 minutes before the start, at 17:45 that day" in page
    frozen_time.set(tonight.starts_at - datetime.timedelta(minutes=15))
    login(client, provider)  # hours later: the inactivity logoff ended the first login
    assert "Take attendance" in client.get(f"/sessions/{tonight.id}").text
    page = client.get(f"/sessions/{next_week.id}").text
    assert "Take attendance" not in page
    assert "Tuesday 17 March 2026 at 18:00" in page
