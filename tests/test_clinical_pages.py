"""The clinical record's pages: the notes page, signing, addenda, co-signing, printing,
diagnoses, NPIs, notes due and the charges export, through the HTTP client."""

from __future__ import annotations

import datetime

import pytest

from groups.models import (
    NOTE_TEXT_MAX,
    AuditLog,
    ChargeLine,
    Enrollment,
    GroupNote,
    MemberNote,
    NoteAddendum,
    User,
)
from tests.checks import count_queries, text_of
from tests.world import CO_NPI, PASSWORD, login, make_user, notes_world


def actions() -> list[str]:
    return [row.action for row in AuditLog.select().order_by(AuditLog.id)]


def notes_url(world) -> str:
    return f"/sessions/{world.session.id}/notes"


def member_fields(member, **overrides) -> dict[str, str]:
    values = {
        "participation": "active",
        "response": "receptive",
        "progress": "progressing",
        "observations": "Practiced paced breathing before the exercise.",
        "risk_level": "none",
        "risk_text": "",
        "plan": "Continue weekly; practice daily.",
        "sign": "y",
        **overrides,
    }
    return {f"member-{member.id}-{k}": v for k, v in values.items() if v is not None}


def page_form(world, members=None, action="save", **overrides) -> dict:
    """The whole notes form as a browser posts it, every block filled in."""
    data = {
        "action": action,
        "group-interventions": ["module", "psychoeducation"],
        "group-interventions_other": "",
        "group-themes": "Noticing early signs of worry.",
        "group-group_process": "Members encouraged each other.",
        "group-start": "",
        "group-end": "",
        "sign_group": "y",
    }
    for member in world.members if members is None else members:
        data.update(member_fields(member))
    if action == "sign":
        data.update(signature_name=world.lead.name, password=PASSWORD)
    data.update(overrides)
    return data


@pytest.fixture
def world(app):
    with app.test_request_context():
        return notes_world(3, absent=1, co=True)


# ---- The page ---------------------------------------------------------------------------------


def test_page_has_the_group_section_once_and_a_block_per_attending_member(client, world):
    login(client, world.lead)
    response = client.get(notes_url(world))
    assert response.status_code == 200
    html = response.text
    assert html.count('name="group-themes"') == 1
    for member in world.members:
        assert f'name="member-{member.id}-plan"' in html
    absent = world.absent_members[0]
    assert absent.name in html
    assert f'name="member-{absent.id}-plan"' not in html
    assert "clinical_note_viewed" in actions()


def test_the_session_page_and_the_roster_link_to_the_notes(client, world):
    login(client, world.lead)
    link = f'href="/sessions/{world.session.id}/notes"'
    assert link in client.get(f"/sessions/{world.session.id}").text
    assert link in client.get(f"/sessions/{world.session.id}/attendance").text


def test_query_count_does_not_grow_with_members(client, app):
    counts = []
    for size in (4, 12):
        with app.test_request_context():
            world = notes_world(size)
            world.write_all()
        login(client, world.lead)
        client.get(notes_url(world))  # warm caches (measures, curricula)
        with count_queries() as queries:
            assert client.get(notes_url(world)).status_code == 200
        counts.append(queries.n)
    assert counts[0] == counts[1]


# ---- Who reaches it ---------------------------------------------------------------------------


def routes(world) -> list[tuple[str, str]]:
    sid, mid = world.session.id, world.members[0].id
    enrollment = Enrollment.get(Enrollment.member == mid)
    return [
        ("GET", f"/sessions/{sid}/notes"),
        ("POST", f"/sessions/{sid}/notes"),
        ("POST", f"/sessions/{sid}/notes/addendum"),
        ("POST", f"/sessions/{sid}/notes/{mid}/addendum"),
        ("POST", f"/sessions/{sid}/notes/{mid}/cosign"),
        ("GET", f"/sessions/{sid}/notes/{mid}/progress-note.pdf"),
        ("GET", f"/groups/{world.group.id}/enrollments/{enrollment.id}/diagnoses"),
        ("POST", f"/groups/{world.group.id}/enrollments/{enrollment.id}/diagnoses"),
    ]


@pytest.mark.parametrize("who", ["member of the group", "other provider"])
def test_members_and_other_providers_get_404_on_every_route(client, app, who):
    with app.test_request_context():
        world = notes_world(2, signed=True)
    user = world.members[0] if who == "member of the group" else make_user("provider")
    login(client, user)
    before = MemberNote.select().count(), NoteAddendum.select().count()
    for method, url in routes(world):
        data = page_form(world) if method == "POST" else None
        assert client.open(url, method=method, data=data).status_code == 404, (method, url)
    assert (MemberNote.select().count(), NoteAddendum.select().count()) == before


def test_admin_reads_but_does_not_write(client, world):
    login(client, world.admin)
    html = client.get(notes_url(world)).text
    assert 'name="group-themes"' not in html
    assert "Administrators read and print" in html
    assert client.post(notes_url(world), data=page_form(world)).status_code == 403
    assert GroupNote.select().count() == 0


def test_a_post_without_csrf_token_is_refused(client, app, world):
    app.config["WTF_CSRF_ENABLED"] = True
    login(client, world.lead)
    assert client.post(notes_url(world), data=page_form(world)).status_code == 400
    assert GroupNote.select().count() == 0


# ---- Saving drafts ----------------------------------------------------------------------------


def test_save_draft_keeps_every_section(client, world):
    login(client, world.lead)
    response = client.post(notes_url(world), data=page_form(world))
    assert response.status_code == 303
    note = GroupNote.get()
    assert note.themes == "Noticing early signs of worry."
    assert set(note.interventions) == {"module", "psychoeducation"}
    assert note.status == "draft"
    assert MemberNote.select().where(MemberNote.status == "draft").count() == 3
    page = client.get(notes_url(world)).text
    assert "Members encouraged each other." in page


def test_a_refused_save_keeps_the_typed_text_next_to_the_message(client, world):
    login(client, world.lead)
    first = world.members[0]
    data = page_form(world)
    data[f"member-{first.id}-observations"] = "Distinctive words typed by the provider."
    data[f"member-{first.id}-plan"] = "x" * (NOTE_TEXT_MAX + 1)
    data["group-end"] = "not a time"
    response = client.post(notes_url(world), data=data)
    assert response.status_code == 422
    assert "Distinctive words typed by the provider." in response.text
    assert "Noticing early signs of worry." in response.text
    assert f'id="member-{first.id}-plan-error"' in response.text
    assert 'id="group-end-error"' in response.text
    assert MemberNote.select().count() == 0


def test_a_service_refusal_is_shown_next_to_its_field(client, world):
    login(client, world.lead)
    data = page_form(world, **{"group-start": "18:00", "group-end": "17:00"})
    response = client.post(notes_url(world), data=data)
    assert response.status_code == 422
    assert "The end time must be after the start time." in text_of(response.text)
    assert 'id="group-end-error"' in response.text
    assert GroupNote.select().count() == 0


# ---- Signing ------------------------------------------------------------------------------


def test_save_and_sign_signs_every_ticked_note_and_makes_charges(client, world):
    login(client, world.lead)
    response = client.post(notes_url(world), data=page_form(world, action="sign"))
    assert response.status_code == 303
    assert GroupNote.get().is_signed
    assert MemberNote.select().where(MemberNote.status == "signed").count() == 3
    assert ChargeLine.select().count() == 3
    page = client.get(notes_url(world)).text
    assert "All signed" in page
    assert 'name="member-' not in page  # signed notes are read-only


def test_only_ticked_notes_are_signed(client, world):
    login(client, world.lead)
    data = page_form(world, action="sign")
    first = world.members[0]
    del data[f"member-{first.id}-sign"]
    assert client.post(notes_url(world), data=data).status_code == 303
    signed = {n.member_id for n in MemberNote.select() if n.is_signed}
    assert signed == {m.id for m in world.members[1:]}


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("signature_name", "Someone Else", "Type your name as it is on your account"),
        ("password", "wrong password", "That password is not right."),
    ],
)
def test_a_wrong_signature_is_refused_and_the_draft_kept(client, world, field, value, message):
    login(client, world.lead)
    data = page_form(world, action="sign", **{field: value})
    data["group-themes"] = "Themes typed before a wrong password."
    response = client.post(notes_url(world), data=data)
    assert response.status_code == 422
    assert message in text_of(response.text)
    assert f'id="{field}-error"' in response.text
    assert "Themes typed before a wrong password." in response.text
    assert GroupNote.get().status == "draft"  # saved, not signed
    assert ChargeLine.select().count() == 0


def test_writing_to_a_signed_note_answers_409_with_the_typed_text(client, world):
    login(client, world.lead)
    client.post(notes_url(world), data=page_form(world, action="sign"))
    first = world.members[0]
    data = member_fields(first, observations="Late thought typed into a stale page.")
    data["action"] = "save"
    response = client.post(notes_url(world), data=data)
    assert response.status_code == 409
    assert "Late thought typed into a stale page." in response.text
    assert "addendum" in response.text
    note = MemberNote.get(MemberNote.member == first.id)
    assert note.observations == "Practiced paced breathing before the exercise."


def test_the_name_check_holds_signing_until_a_reason_is_given(client, world):
    login(client, world.lead)
    first, second = world.members[0], world.members[1]
    other_first_name = second.name.split()[0]
    data = page_form(world, [first], action="sign", sign_group="")
    data[f"member-{first.id}-observations"] = f"Responded warmly to {other_first_name}."
    response = client.post(notes_url(world), data=data)
    assert response.status_code == 422
    assert other_first_name in text_of(response.text)
    assert f'id="member-{first.id}-name_check_reason-error"' in response.text
    assert not MemberNote.get(MemberNote.member == first.id).is_signed

    data[f"member-{first.id}-name_check_reason"] = "A shared exercise; the name is needed."
    assert client.post(notes_url(world), data=data).status_code == 303
    note = MemberNote.get(MemberNote.member == first.id)
    assert note.is_signed
    assert note.name_check_reason == "A shared exercise; the name is needed."
    assert "clinical_note_name_confirmed" in actions()


def test_more_than_twelve_present_asks_to_confirm_the_count(client, app):
    with app.test_request_context():
        world = notes_world(13)
    login(client, world.lead)
    page = client.get(notes_url(world)).text
    assert "more than the 12" in page
    data = page_form(world, action="sign")
    response = client.post(notes_url(world), data=data)
    assert response.status_code == 422
    assert 'id="over_limit_ok-error"' in response.text
    assert MemberNote.select().where(MemberNote.status == "signed").count() == 0
    data["over_limit_ok"] = "y"
    assert client.post(notes_url(world), data=data).status_code == 303
    assert MemberNote.select().where(MemberNote.status == "signed").count() == 13


# ---- Addenda, co-signatures, printing ---------------------------------------------------------


def test_an_addendum_goes_under_a_signed_note_only(client, world):
    login(client, world.lead)
    first = world.members[0]
    url = f"{notes_url(world)}/{first.id}/addendum"
    prefix = f"addendum-{first.id}-"
    data = {
        prefix + "text": "Called after the session: doing well.",
        prefix + "signature_name": world.lead.name,
        prefix + "password": PASSWORD,
    }
    client.post(notes_url(world), data=page_form(world))  # a draft only
    response = client.post(url, data=data)
    assert response.status_code == 422
    assert NoteAddendum.select().count() == 0

    client.post(notes_url(world), data=page_form(world, action="sign"))
    assert client.post(url, data=data).status_code == 303
    assert NoteAddendum.get().text == "Called after the session: doing well."
    assert "Called after the session: doing well." in client.get(notes_url(world)).text
    wrong = {**data, prefix + "password": "nope"}
    response = client.post(url, data=wrong)
    assert response.status_code == 422
    assert f'id="{prefix}password-error"' in response.text
    assert NoteAddendum.select().count() == 1


def test_the_lead_cosigns_a_cofacilitators_note(client, world):
    login(client, world.co)
    client.post(
        notes_url(world),
        data={**page_form(world, action="sign"), "signature_name": world.co.name},
    )
    first = world.members[0]
    assert MemberNote.get(MemberNote.member == first.id).signed_by_id == world.co.id
    url = f"{notes_url(world)}/{first.id}/cosign"
    prefix = f"cosign-{first.id}-"
    assert "Co-sign as the group" not in client.get(notes_url(world)).text
    response = client.post(
        url, data={prefix + "signature_name": world.co.name, prefix + "password": PASSWORD}
    )
    assert response.status_code == 422

    login(client, world.lead)
    assert "Co-sign as the group" in client.get(notes_url(world)).text
    response = client.post(
        url, data={prefix + "signature_name": world.lead.name, prefix + "password": PASSWORD}
    )
    assert response.status_code == 303
    assert MemberNote.get(MemberNote.member == first.id).cosigned_by_id == world.lead.id


def test_a_signed_note_prints_as_pdf_and_is_audited(client, app):
    with app.test_request_context():
        world = notes_world(2, signed=True)
    login(client, world.admin)
    url = f"{notes_url(world)}/{world.members[0].id}/progress-note.pdf"
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert "clinical_note_printed" in actions()


def test_an_unsigned_note_does_not_print(client, world):
    login(client, world.lead)
    client.post(notes_url(world), data=page_form(world))
    url = f"{notes_url(world)}/{world.members[0].id}/progress-note.pdf"
    assert client.get(url).status_code == 404


# ---- Notes due -----------------------------------------------------------------------------


def test_the_provider_home_lists_sessions_with_unsigned_notes_and_their_age(client, world):
    login(client, world.lead)
    html = text_of(client.get("/home").text)
    assert "Notes due" in html
    assert "2 days" in html
    assert f'href="/sessions/{world.session.id}/notes"' in client.get("/home").text
    client.post(notes_url(world), data=page_form(world, action="sign"))
    assert "Every held session's notes are signed." in client.get("/home").text


def test_the_admin_sees_notes_due_per_provider(client, world):
    login(client, world.admin)
    assert "/admin/notes-due" in client.get("/admin/").text
    html = text_of(client.get("/admin/notes-due").text)
    assert world.lead.name in html
    assert world.group.name in html


# ---- Diagnoses and NPIs ----------------------------------------------------------------------


def diagnoses_url(world):
    enrollment = Enrollment.get(Enrollment.member == world.members[0].id)
    return f"/groups/{world.group.id}/enrollments/{enrollment.id}/diagnoses", enrollment


def test_diagnosis_codes_are_edited_on_the_enrollment(client, world):
    login(client, world.lead)
    url, enrollment = diagnoses_url(world)
    record = client.get(f"/groups/{world.group.id}/members/{world.members[0].id}").text
    assert url in record
    form = client.get(url).text
    assert 'list="common-codes"' in form
    assert "F41.1" in form
    response = client.post(url, data={"diagnosis_codes": "f41.1, F90.0"})
    assert response.status_code == 302
    assert Enrollment.get_by_id(enrollment.id).diagnosis_codes == "F41.1 F90.0"
    assert "diagnosis_changed" in actions()


def test_a_bad_diagnosis_code_is_refused_with_422(client, world):
    login(client, world.lead)
    url, enrollment = diagnoses_url(world)
    before = enrollment.diagnosis_codes
    response = client.post(url, data={"diagnosis_codes": "F41.1 anxiety"})
    assert response.status_code == 422
    assert 'id="diagnosis_codes-error"' in response.text
    assert "F41.1 anxiety" in response.text
    assert Enrollment.get_by_id(enrollment.id).diagnosis_codes == before


def user_form(user: User, **changes) -> dict:
    data = {
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "timezone": user.timezone,
        "npi": user.npi or "",
    }
    return {**data, **changes}


def test_the_admin_sets_a_providers_npi(client, app):
    admin = make_user("admin")
    provider = make_user("provider")
    login(client, admin)
    response = client.post(f"/admin/users/{provider.id}", data=user_form(provider, npi=CO_NPI))
    assert response.status_code == 302
    assert User.get_by_id(provider.id).npi == CO_NPI
    assert "npi_changed" in actions()
    assert CO_NPI in client.get(f"/admin/users/{provider.id}").text


@pytest.mark.parametrize("npi", ["1234567890", "12345", "abcdefghij"])
def test_a_bad_npi_is_refused_with_422(client, npi):
    admin = make_user("admin")
    provider = make_user("provider", name="Dr. Unchanged")
    login(client, admin)
    response = client.post(
        f"/admin/users/{provider.id}", data=user_form(provider, npi=npi, name="Dr. Changed")
    )
    assert response.status_code == 422
    assert 'id="npi-error"' in response.text
    assert User.get_by_id(provider.id).npi is None
    assert User.get_by_id(provider.id).name == "Dr. Unchanged"


def test_a_member_carries_no_npi(client):
    login(client, make_user("admin"))
    member = make_user("member")
    response = client.post(f"/admin/users/{member.id}", data=user_form(member, npi=CO_NPI))
    assert response.status_code == 422
    assert User.get_by_id(member.id).npi is None


# ---- The charges export ----------------------------------------------------------------------


def test_the_charges_export_downloads_csv_and_is_audited(client, app):
    with app.test_request_context():
        world = notes_world(2, signed=True)
    login(client, world.admin)
    assert client.get("/admin/charges").status_code == 200
    today = datetime.date.today()
    response = client.post(
        "/admin/charges",
        data={
            "start": (today - datetime.timedelta(days=30)).isoformat(),
            "end": (today + datetime.timedelta(days=1)).isoformat(),
            "provider": "0",
        },
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    lines = response.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("date_of_service,session_id,member_id")
    assert len(lines) == 3
    assert "charges_exported" in actions()


@pytest.mark.parametrize(
    "start, end", [("2026-03-10", "2026-03-01"), ("2026-03-01", ""), ("yesterday", "2026-03-01")]
)
def test_a_bad_charges_range_is_refused_with_422(client, start, end):
    login(client, make_user("admin"))
    response = client.post("/admin/charges", data={"start": start, "end": end, "provider": "0"})
    assert response.status_code == 422
    assert "charges_exported" not in actions()


def test_providers_and_members_cannot_reach_the_admin_pages(client):
    for role in ("provider", "member"):
        login(client, make_user(role))
        assert client.get("/admin/charges").status_code == 403
        assert client.get("/admin/notes-due").status_code == 403
