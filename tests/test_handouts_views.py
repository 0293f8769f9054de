"""Handout pages and downloads: the library, session packets, members' copies.

Who may download what (404 for anything not theirs), what is printed on a
copy, the audit trail, the response headers, the PDF cache, and fixed query
counts. The renderer itself is covered by test_handout_render.py; tests here
render few PDFs and lean on the cache.
"""

from __future__ import annotations

import datetime
import io
import json

import pytest
from flask import url_for
from pypdf import PdfReader

from groups.clock import utcnow
from groups.db import database
from groups.handouts import load_library, render
from groups.models import AuditLog, Enrollment, Module, PacketItem, Session
from groups.services import groups as group_service
from tests.world import login

GROUP = {
    "name": "Tuesday Evening Group",
    "focus": "anxiety",
    "description": "",
    "capacity": 10,
    "format": "closed",
    "location": "Room 3",
    "timezone": "America/New_York",
    "status": "active",
}
MODULE_HANDOUT = "anxiety-03-calming-the-body"
GUIDANCE = "why-partners-hesitate"


def new_group(lead, **fields):
    return group_service.create_group(lead, {**GROUP, **fields}, [], by=lead)


def new_session(group, position=3, days=1):
    module = Module.get(Module.group == group, Module.position == position)
    starts = datetime.datetime(2031, 5, 13, 22, 0, tzinfo=datetime.UTC) + datetime.timedelta(
        days=days
    )
    return Session.create(
        group=group,
        module=module,
        starts_at=starts,
        ends_at=starts + datetime.timedelta(minutes=90),
    )


def enroll(group, member, status="active"):
    joined = utcnow() if status in ("active", "withdrawn") else None
    return Enrollment.create(group=group, member=member, status=status, joined_at=joined)


def set_packet(session, *slugs, shows_focus=False):
    for i, slug in enumerate(slugs):
        PacketItem.create(session=session, handout_slug=slug, position=i)
    Session.update(packet_shows_focus=shows_focus).where(Session.id == session.id).execute()


def stub_pdf(pages: int = 1) -> bytes:
    """A valid PDF of blank pages, for tests about access and audit, not looks."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def stub_write_pdf(html: str) -> bytes:
    """Stands in for WeasyPrint: one blank page, or one per page of a name layer."""
    return stub_pdf(html.count('class="name-layer"') or 1)


def pdf_text(data: bytes) -> str:
    return " ".join(
        " ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages
    )


def downloads():
    return [
        (row, json.loads(row.detail))
        for row in AuditLog.select().where(AuditLog.action == "handout_downloaded")
    ]


def assert_pdf_attachment(response, filename=None):
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert response.headers["Cache-Control"] == "no-store"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    if filename:
        assert f'filename="{filename}"' in disposition


@pytest.fixture
def world(make_user):
    """Provider A runs group A (two active members, one waitlisted, one who
    withdrew); provider B runs group B with one member."""
    provider_a = make_user("provider", name="Dr. Ada A")
    provider_b = make_user("provider", name="Dr. Ben B")
    group_a = new_group(provider_a)
    group_b = new_group(provider_b, name="Thursday Group", focus="adhd")
    members = {
        "ann": make_user("member", name="Annabel Quist"),
        "bo": make_user("member", name="Bodhi Ramsey"),
        "wait": make_user("member", name="Wanda Waitlisted"),
        "gone": make_user("member", name="Gale Withdrawn"),
        "other": make_user("member", name="Otto Elsewhere"),
    }
    enroll(group_a, members["ann"])
    enroll(group_a, members["bo"])
    enroll(group_a, members["wait"], "waitlisted")
    enroll(group_a, members["gone"], "withdrawn")
    enroll(group_b, members["other"])
    session_a = new_session(group_a)
    session_b = new_session(group_b)
    return {
        "module_a": Module.get(Module.group == group_a, Module.position == 3),
        "provider_a": provider_a,
        "provider_b": provider_b,
        "group_a": group_a,
        "group_b": group_b,
        "session_a": session_a,
        "session_b": session_b,
        **members,
    }


@pytest.fixture
def write_calls(monkeypatch):
    calls = []
    original = render._write_pdf

    def spy(html):
        calls.append(html)
        return original(html)

    monkeypatch.setattr(render, "_write_pdf", spy)
    return calls


@pytest.fixture
def no_render(monkeypatch):
    """For requests that must be refused before anything is rendered."""

    def refuse(html):
        raise AssertionError("rendered a PDF for a request that should have been refused")

    monkeypatch.setattr(render, "_write_pdf", refuse)


# ---- Permissions ---------------------------------------------------------------


STAFF_PAGES = [
    "/handouts/",
    f"/handouts/{GUIDANCE}",
    f"/handouts/{GUIDANCE}.pdf",
]


@pytest.mark.parametrize("url", STAFF_PAGES)
@pytest.mark.parametrize(("role", "status"), [(None, 302), ("member", 403)])
def test_staff_pages_need_a_staff_login(client, as_role, no_render, url, role, status):
    if role:
        as_role(role)
    response = client.get(url)
    assert response.status_code == status
    if role is None:
        assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(
    "url",
    ["/handouts/my/sessions/{session}.pdf", "/handouts/my/modules/{module}/1.pdf"],
)
@pytest.mark.parametrize("role", ["provider", "admin"])
def test_member_downloads_are_for_members_only(client, world, as_role, no_render, url, role):
    as_role(role)
    response = client.get(url.format(session=world["session_a"].id, module=world["module_a"].id))
    assert response.status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "/handouts/sessions/{session}/packet",
        "/handouts/sessions/{session}/packet.pdf",
        "/handouts/sessions/{session}/member-copies.pdf",
        "/sessions/{session}",
        f"/handouts/{GUIDANCE}.pdf?session={{session}}",
        f"/handouts/{GUIDANCE}.pdf?group={{group}}",
    ],
)
def test_provider_b_gets_404_for_provider_a_packet_and_personalisation(
    client, world, no_render, url
):
    set_packet(world["session_a"], MODULE_HANDOUT)
    login(client, world["provider_b"])
    url = url.format(session=world["session_a"].id, group=world["group_a"].id)
    assert client.get(url).status_code == 404
    assert downloads() == []


@pytest.mark.parametrize(
    ("endpoint", "path"),
    [
        ("sessions.note", "/sessions/{id}/note"),
        ("sessions.packet", "/handouts/sessions/{id}/packet"),
        ("sessions.packet_pdf", "/handouts/sessions/{id}/packet.pdf"),
        ("sessions.member_copies", "/handouts/sessions/{id}/member-copies.pdf"),
    ],
)
def test_session_routes_keep_their_published_urls(app, endpoint, path):
    """The note and the packet moved into the sessions blueprint; links made earlier still work."""
    with app.test_request_context():
        assert url_for(endpoint, session_id=7) == path.format(id=7)


def test_provider_b_cannot_change_provider_a_packet(client, world):
    login(client, world["provider_b"])
    response = client.post(
        f"/handouts/sessions/{world['session_a'].id}/packet",
        data={"handouts": [GUIDANCE], "show_focus": "y"},
    )
    assert response.status_code == 404
    assert PacketItem.select().count() == 0
    assert not Session.get_by_id(world["session_a"].id).packet_shows_focus


@pytest.mark.parametrize("query", ["group=abc", "session=-1", "group=99999", "session=99999"])
def test_bad_personalisation_ids_are_404(client, world, no_render, query):
    login(client, world["provider_a"])
    assert client.get(f"/handouts/{GUIDANCE}.pdf?{query}").status_code == 404


def test_session_of_another_group_is_404_even_when_both_are_mine(client, world, no_render):
    other = new_group(world["provider_a"], name="Second group")
    login(client, world["provider_a"])
    url = f"/handouts/{GUIDANCE}.pdf?group={other.id}&session={world['session_a'].id}"
    assert client.get(url).status_code == 404


def test_member_of_group_b_gets_404_for_packet_of_group_a(client, world, no_render):
    set_packet(world["session_a"], MODULE_HANDOUT)
    login(client, world["other"])
    assert client.get(f"/handouts/my/sessions/{world['session_a'].id}.pdf").status_code == 404
    assert downloads() == []


@pytest.mark.parametrize("who", ["wait", "gone"])
def test_waitlisted_or_withdrawn_member_gets_404_for_the_packet(client, world, no_render, who):
    set_packet(world["session_a"], MODULE_HANDOUT)
    login(client, world[who])
    assert client.get(f"/handouts/my/sessions/{world['session_a'].id}.pdf").status_code == 404


def test_member_gets_404_when_the_session_has_no_packet(client, world, no_render):
    login(client, world["ann"])
    assert client.get(f"/handouts/my/sessions/{world['session_a'].id}.pdf").status_code == 404


def test_unknown_slug_is_404(client, world, no_render):
    login(client, world["provider_a"])
    assert client.get("/handouts/no-such-handout").status_code == 404
    assert client.get("/handouts/no-such-handout.pdf").status_code == 404
    login(client, world["ann"])
    module = world["module_a"].id  # one handout only
    for url in (
        f"/handouts/my/{MODULE_HANDOUT}.pdf",  # slugs are not member URLs
        f"/handouts/my/modules/{module}/0.pdf",
        f"/handouts/my/modules/{module}/2.pdf",
        "/handouts/my/modules/99999/1.pdf",
        f"/handouts/my/modules/{module}/x.pdf",
    ):
        assert client.get(url).status_code == 404, url


# ---- Library and preview ------------------------------------------------------------


def test_library_lists_guidance_and_module_handouts(client, as_role):
    as_role("provider")
    page = client.get("/handouts/").get_data(as_text=True)
    assert "Why partners hesitate about therapy" in page
    assert "Anxiety curriculum" in page and "ADHD curriculum" in page
    assert f'href="/handouts/{MODULE_HANDOUT}.pdf"' in page


def test_library_filters_by_focus_module_and_kind(client, as_role):
    as_role("admin")
    adhd = client.get("/handouts/?focus=adhd").get_data(as_text=True)
    assert "ADHD curriculum" in adhd and "Anxiety curriculum" not in adhd
    module = client.get(f"/handouts/?module={MODULE_HANDOUT}").get_data(as_text=True)
    assert f"/handouts/{MODULE_HANDOUT}.pdf" in module
    assert "/handouts/anxiety-04-catching-anxious-thoughts.pdf" not in module
    guidance = client.get("/handouts/?kind=guidance&focus=bogus").get_data(as_text=True)
    assert "Why partners hesitate" in guidance and "curriculum <span" not in guidance


def test_preview_shows_the_handout_in_the_site_style(client, as_role):
    as_role("provider")
    response = client.get(f"/handouts/{MODULE_HANDOUT}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'class="card handout-preview"' in page
    assert 'class="write-line"' in page  # the worksheet's writing lines
    assert f'href="/handouts/{MODULE_HANDOUT}.pdf"' in page
    assert "Print for a group" not in page  # this provider runs no group yet


@pytest.fixture
def broken_content(tmp_path, monkeypatch):
    content = tmp_path / "broken"
    content.mkdir()
    (content / "bad.md").write_text("---\nslug: bad\ntitle: [unclosed\n---\nBody\n")
    monkeypatch.setattr("groups.handouts.library.CONTENT_DIR", content)
    return content


def test_malformed_content_shows_a_panel_not_a_500(client, world, broken_content):
    login(client, world["provider_a"])
    response = client.get("/handouts/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "problem-panel" in page and "bad.md: invalid YAML" in page
    session_page = client.get(f"/sessions/{world['session_a'].id}")
    assert session_page.status_code == 200
    assert "bad.md: invalid YAML" in session_page.get_data(as_text=True)
    download = client.get(f"/handouts/{GUIDANCE}.pdf")
    assert download.status_code == 503
    assert "check-handouts" in download.get_data(as_text=True)


def test_malformed_content_is_logged_at_start_up(broken_content, tmp_path, caplog):
    from groups import create_app

    create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "x",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'startup.db'}",
            "PDF_CACHE_DIR": str(tmp_path / "cache"),
        }
    )
    messages = "\n".join(r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert "bad.md: invalid YAML" in messages and "check-handouts" in messages


# ---- Packets ---------------------------------------------------------------------


def test_session_page_suggests_the_module_handout_first_and_ticks_it(client, world):
    login(client, world["provider_a"])
    page = client.get(f"/sessions/{world['session_a'].id}").get_data(as_text=True)
    assert 'id="packet"' in page
    module_box = f'id="pick-{MODULE_HANDOUT}" name="handouts" value="{MODULE_HANDOUT}" checked'
    assert module_box in page
    assert page.index(module_box) < page.index(f'id="pick-{GUIDANCE}"')
    assert f'id="pick-{GUIDANCE}" name="handouts" value="{GUIDANCE}">' in page  # not ticked
    assert 'name="show_focus" value="y" aria' in page  # focus box unticked by default


def test_saving_a_packet_stores_it_in_order_and_audits(client, world):
    login(client, world["provider_a"])
    session = world["session_a"]
    response = client.post(
        f"/handouts/sessions/{session.id}/packet",
        data={"handouts": [GUIDANCE, MODULE_HANDOUT], "show_focus": "y"},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/sessions/{session.id}#packet")
    items = PacketItem.select().where(PacketItem.session == session).order_by(PacketItem.position)
    assert [i.handout_slug for i in items] == [MODULE_HANDOUT, GUIDANCE]  # suggestion order
    assert Session.get_by_id(session.id).packet_shows_focus
    entry = AuditLog.get(AuditLog.action == "packet_changed")
    assert entry.target_id == session.id
    assert json.loads(entry.detail) == {
        "handouts": [MODULE_HANDOUT, GUIDANCE],
        "shows_focus": True,
    }
    # Saving the same again changes nothing and adds no audit entry.
    client.post(
        f"/handouts/sessions/{session.id}/packet",
        data={"handouts": [MODULE_HANDOUT, GUIDANCE], "show_focus": "y"},
    )
    assert AuditLog.select().where(AuditLog.action == "packet_changed").count() == 1
    # Unticking everything empties the packet.
    client.post(f"/handouts/sessions/{session.id}/packet", data={})
    assert PacketItem.select().count() == 0
    assert not Session.get_by_id(session.id).packet_shows_focus


def test_unknown_handout_is_refused_next_to_the_field_and_nothing_changes(client, world):
    set_packet(world["session_a"], GUIDANCE)
    login(client, world["provider_a"])
    response = client.post(
        f"/handouts/sessions/{world['session_a'].id}/packet",
        data={"handouts": [MODULE_HANDOUT, "../../etc/passwd"]},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="handouts-error"' in page and "not in the library" in page
    # The provider's ticks survive the error.
    assert f'value="{MODULE_HANDOUT}" checked' in page
    assert [i.handout_slug for i in PacketItem.select()] == [GUIDANCE]
    assert not AuditLog.select().where(AuditLog.action == "packet_changed").exists()


def test_a_packet_holds_at_most_ten_handouts(client, world):
    login(client, world["provider_a"])
    many = [h.slug for h in load_library() if h.kind == "module"][:11]
    response = client.post(
        f"/handouts/sessions/{world['session_a'].id}/packet", data={"handouts": many}
    )
    assert response.status_code == 422
    assert "A packet holds at most 10 handouts" in response.get_data(as_text=True)
    assert PacketItem.select().count() == 0


def test_packet_form_needs_its_csrf_token(app, client, world):
    app.config["WTF_CSRF_ENABLED"] = True
    login(client, world["provider_a"])
    session = world["session_a"]
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert 'name="csrf_token"' in page
    response = client.post(
        f"/handouts/sessions/{session.id}/packet", data={"handouts": [MODULE_HANDOUT]}
    )
    assert response.status_code == 400
    assert PacketItem.select().count() == 0


def test_save_and_print_goes_straight_to_the_member_copies(client, world):
    login(client, world["provider_a"])
    session = world["session_a"]
    response = client.post(
        f"/handouts/sessions/{session.id}/packet",
        data={"handouts": [MODULE_HANDOUT], "then": "member-copies"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(
        f"/handouts/sessions/{session.id}/member-copies.pdf"
    )


def test_member_copies_hold_one_named_copy_per_active_member(client, world, write_calls):
    set_packet(world["session_a"], MODULE_HANDOUT)
    login(client, world["provider_a"])
    response = client.get(f"/handouts/sessions/{world['session_a'].id}/member-copies.pdf")
    assert_pdf_attachment(response, f"session-packet-{world['session_a'].id}-member-copies.pdf")
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == 4  # a two-page module handout for each of two members
    pages = [" ".join(p.extract_text().split()) for p in reader.pages]
    first, second = pages[0] + pages[1], pages[2] + pages[3]
    assert "Copy for Annabel Quist" in first and "Copy for Bodhi Ramsey" in second
    text = first + second
    assert "Wanda" not in text and "Gale" not in text and "Otto" not in text
    assert "Tuesday Evening Group" not in text and "Wednesday 14 May 2031" in text
    assert "Session handouts" in reader.metadata.title
    # The packet laid out once, and one name layer for both copies.
    assert len(write_calls) == 2 and 'class="name-layer"' in write_calls[1]
    # The member's own download stamps her name on the packet laid out for
    # the provider: only her small name layer is new.
    login(client, world["ann"])
    own = client.get(f"/handouts/my/sessions/{world['session_a'].id}.pdf")
    assert_pdf_attachment(own, f"session-packet-{world['session_a'].id}.pdf")
    assert "Copy for Annabel Quist" in pdf_text(own.data)
    assert "Bodhi" not in pdf_text(own.data)
    assert len(write_calls) == 3 and 'class="name-layer"' in write_calls[2]


def test_provider_copy_has_no_member_name_and_no_focus_unless_chosen(client, world):
    session = world["session_b"]  # an ADHD group; this handout never says "ADHD"
    set_packet(session, GUIDANCE)
    login(client, world["provider_b"])
    plain = pdf_text(client.get(f"/handouts/sessions/{session.id}/packet.pdf").data)
    assert "Why partners hesitate" in plain and "Thursday Group" not in plain
    assert "Copy for" not in plain
    assert "ADHD" not in plain and "FOCUS" not in plain
    Session.update(packet_shows_focus=True).where(Session.id == session.id).execute()
    chosen = pdf_text(client.get(f"/handouts/sessions/{session.id}/packet.pdf").data)
    assert "FOCUS ADHD" in chosen and "Thursday Group" in chosen


def test_empty_packet_download_explains_instead_of_failing(client, world, no_render):
    login(client, world["provider_a"])
    response = client.get(f"/handouts/sessions/{world['session_a'].id}/packet.pdf")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "No handouts have been picked for this session yet." in page


def test_admin_reaches_any_packet(client, world, as_role):
    set_packet(world["session_b"], GUIDANCE)
    as_role("admin")
    assert_pdf_attachment(client.get(f"/handouts/sessions/{world['session_b'].id}/packet.pdf"))


# ---- Members ---------------------------------------------------------------------


def test_member_schedule_and_session_page_link_the_packet(client, world):
    session = world["session_a"]
    without = new_session(world["group_a"], position=4, days=8)
    set_packet(session, MODULE_HANDOUT)
    login(client, world["ann"])
    home = client.get("/schedule").get_data(as_text=True)
    assert f'href="/handouts/my/sessions/{session.id}.pdf"' in home
    assert f"/handouts/my/sessions/{without.id}.pdf" not in home
    detail = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert f'href="/handouts/my/sessions/{session.id}.pdf"' in detail
    assert "Handouts (PDF)" not in client.get(f"/sessions/{without.id}").get_data(as_text=True)


def test_member_catch_up_handout_of_their_own_module(client, world):
    login(client, world["ann"])
    module = world["module_a"]
    response = client.get(f"/handouts/my/modules/{module.id}/1.pdf")
    assert_pdf_attachment(response, f"handout-{module.id}-1.pdf")
    text = pdf_text(response.data)
    assert "Copy for Annabel Quist" in text and "Tuesday Evening Group" in text
    assert "Calming the body" in text


@pytest.mark.parametrize(
    ("who", "group", "position", "number", "status"),
    [
        ("ann", "group_b", 3, 1, 404),  # a module of another group
        ("ann", "group_a", 1, 2, 200),  # guidance tagged to module 1 of hers
        ("other", "group_a", 3, 1, 404),  # her group is group B
        ("wait", "group_a", 3, 1, 404),  # never active in the group
        ("gone", "group_a", 3, 1, 200),  # was active: may still catch up
    ],
)
def test_member_handout_needs_a_module_of_their_group(
    client, world, monkeypatch, who, group, position, number, status
):
    monkeypatch.setattr(render, "_write_pdf", stub_write_pdf)
    module = Module.get(Module.group == world[group], Module.position == position)
    login(client, world[who])
    assert client.get(f"/handouts/my/modules/{module.id}/{number}.pdf").status_code == status


# ---- Downloads: audit, headers, cache ------------------------------------------------


def test_downloads_are_audited_without_member_names(client, world, monkeypatch):
    monkeypatch.setattr(render, "_write_pdf", stub_write_pdf)
    session = world["session_a"]
    set_packet(session, MODULE_HANDOUT, GUIDANCE)
    login(client, world["provider_a"])
    client.get(f"/handouts/sessions/{session.id}/member-copies.pdf")
    client.get(f"/handouts/sessions/{session.id}/packet.pdf")
    client.get(f"/handouts/{GUIDANCE}.pdf?group={world['group_a'].id}")
    login(client, world["ann"])
    client.get(f"/handouts/my/sessions/{session.id}.pdf")
    client.get(f"/handouts/my/modules/{world['module_a'].id}/1.pdf")
    rows = downloads()
    assert [d["copy"] for _, d in rows] == ["member-copies", "staff", "staff", "member", "member"]
    assert rows[0][1] == {
        "copies": 2,
        "copy": "member-copies",
        "handouts": [MODULE_HANDOUT, GUIDANCE],
    }
    assert (rows[0][0].target_type, rows[0][0].target_id) == ("session", session.id)
    assert rows[2][0].target_type == "handout" and rows[2][1]["handouts"] == [GUIDANCE]
    assert rows[3][0].actor_id == world["ann"].id
    for row, _ in rows:
        for member in ("Annabel", "Bodhi", "Quist"):
            assert member not in row.detail


def test_second_download_comes_from_the_cache(client, world, write_calls):
    login(client, world["provider_a"])
    first = client.get(f"/handouts/{GUIDANCE}.pdf?session={world['session_a'].id}")
    second = client.get(f"/handouts/{GUIDANCE}.pdf?session={world['session_a'].id}")
    assert_pdf_attachment(first, f"{GUIDANCE}.pdf")
    assert second.data == first.data
    assert len(write_calls) == 1
    text = pdf_text(first.data)
    assert "Tuesday Evening Group" not in text and "Wednesday 14 May 2031" in text
    assert "Calming the body" in text  # the session's module
    assert len(downloads()) == 2  # the cache does not skip the audit


# ---- Query counts ------------------------------------------------------------------


class QueryCounter:
    def __init__(self):
        self.n = 0

    def __enter__(self):
        real = database.obj.execute_sql

        def counting(sql, params=None, *args, **kwargs):
            self.n += 1
            return real(sql, params, *args, **kwargs)

        database.obj.execute_sql = counting
        return self

    def __exit__(self, *exc):
        del database.obj.execute_sql


def queries(client, url) -> int:
    with QueryCounter() as counter:
        assert client.get(url).status_code == 200
    return counter.n


def test_session_page_query_count_does_not_grow_with_packet_or_members(client, world, make_user):
    session = world["session_a"]
    login(client, world["provider_a"])
    url = f"/sessions/{session.id}"
    set_packet(session, MODULE_HANDOUT)
    small = queries(client, url)
    PacketItem.delete().execute()
    set_packet(session, MODULE_HANDOUT, GUIDANCE, "raising-therapy", "ripple-effect")
    for _ in range(4):
        enroll(world["group_a"], make_user("member"))
    assert queries(client, url) == small
    assert queries(client, f"/handouts/sessions/{session.id}/packet") <= small


def test_member_schedule_query_count_does_not_grow_with_packets(client, world):
    group = world["group_a"]
    extra = [new_session(group, position=p, days=7 * p) for p in (4, 5, 6)]
    set_packet(world["session_a"], MODULE_HANDOUT)
    login(client, world["ann"])
    one = queries(client, "/schedule")
    for s in extra:
        set_packet(s, GUIDANCE)
    assert queries(client, "/schedule") == one
