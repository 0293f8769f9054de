"""The clinical record: group and member notes, signing, addenda, the name check, notes due, PDF."""

from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader

from groups.clinical import codes
from groups.models import (
    AuditLog,
    ChargeLine,
    GroupNote,
    MemberNote,
    NoteAddendum,
    SafetyAlert,
    User,
)
from groups.services import ServiceError, accounts
from groups.services import clinical_notes as notes
from tests.checks import count_queries
from tests.world import PASSWORD, make_user, notes_world


@pytest.fixture(autouse=True)
def context(app):
    with app.test_request_context():
        yield


def actions() -> list[str]:
    return [row.action for row in AuditLog.select().order_by(AuditLog.id)]


def sign(world, by=None, **kw):
    by = by or world.lead
    return notes.sign_notes(world.session, signature_name=by.name, password=PASSWORD, by=by, **kw)


# ---- Who gets a note ----------------------------------------------------------------


def test_absent_and_excused_members_get_no_note_and_no_charge(app):
    world = notes_world(3, absent=2, signed=True)
    documented = {n.member_id for n in MemberNote.select()}
    assert documented == {m.id for m in world.members}
    assert {c.member_id for c in ChargeLine.select()} == documented
    page = notes.notes_page(world.session, by=world.lead)
    assert [row.member_id for row in page.not_documented] == [m.id for m in world.absent_members]
    assert {row.attendance for row in page.not_documented} == {"absent", "excused"}


def test_a_note_for_an_absent_member_is_refused(app):
    world = notes_world(2, absent=1)
    absent = world.absent_members[0]
    with pytest.raises(ServiceError) as error:
        notes.save_draft(
            world.session,
            group=None,
            members={absent.id: world.member_section(absent)},
            by=world.lead,
        )
    assert error.value.field == f"member-{absent.id}-observations"
    assert MemberNote.select().count() == 0


def test_late_members_are_documented(app):
    world = notes_world(3, late=1, signed=True)
    page = notes.notes_page(world.session, by=world.lead)
    assert [b.attendance for b in page.members].count("late") == 1
    assert ChargeLine.select().count() == 3


# ---- Drafts, signing, locking ---------------------------------------------------------


def test_draft_saves_and_page_shows_it(app):
    world = notes_world(2)
    world.write_all()
    page = notes.notes_page(world.session, by=world.lead)
    assert page.can_write and not page.all_signed and page.unsigned_count == 3
    assert page.group_note.note.themes == "Noticing early signs of worry."
    assert page.group_note.note.modality == "in_person"
    assert page.module_title == "Understanding anxiety"
    assert {b.form.values["participation"] for b in page.members} == {"active"}
    assert GroupNote.get().present_count == 2


def test_signing_locks_the_notes_and_a_later_write_is_refused(app):
    world = notes_world(2)
    world.write_all()
    result = sign(world)
    assert result.group_signed and sorted(result.signed) == sorted(m.id for m in world.members)
    note = MemberNote.get(MemberNote.member == world.members[0].id)
    assert note.is_signed and note.signed_by_id == world.lead.id
    assert note.signature_name == world.lead.name and note.signed_at is not None
    member = world.members[0]
    with pytest.raises(notes.NoteLocked):
        notes.save_draft(
            world.session,
            group=None,
            members={member.id: world.member_section(member, plan="changed")},
            by=world.lead,
        )
    with pytest.raises(notes.NoteLocked):
        notes.save_draft(world.session, group=world.group_section(), members={}, by=world.lead)
    assert MemberNote.get_by_id(note.id).plan == "Continue weekly group; practice daily."
    assert notes.notes_page(world.session, by=world.lead).all_signed


def test_signing_needs_the_typed_name_and_the_password(app):
    world = notes_world(1)
    world.write_all()
    with pytest.raises(ServiceError) as error:
        notes.sign_notes(
            world.session, signature_name="Someone Else", password=PASSWORD, by=world.lead
        )
    assert error.value.field == "signature_name"
    with pytest.raises(ServiceError) as error:
        notes.sign_notes(
            world.session, signature_name=world.lead.name.upper(), password="wrong", by=world.lead
        )
    assert error.value.field == "password"
    assert MemberNote.select().where(MemberNote.status == "signed").count() == 0
    assert ChargeLine.select().count() == 0


@pytest.mark.parametrize(
    "field, value",
    [("plan", ""), ("risk_level", "moderate")],
    ids=["without a plan", "moderate risk without its text"],
)
def test_a_note_short_of_what_signing_needs_is_not_signed(app, field, value):
    """An empty plan, or a moderate (or high) risk without its text, holds the signature."""
    world = notes_world(1)
    member = world.members[0]
    notes.save_draft(
        world.session,
        group=world.group_section(),
        members={member.id: world.member_section(member, **{field: value})},
        by=world.lead,
    )
    with pytest.raises(ServiceError) as error:
        sign(world)
    missing = "plan" if field == "plan" else "risk_text"
    assert error.value.field == f"member-{member.id}-{missing}"
    assert GroupNote.get().status == "draft"


def test_only_the_groups_providers_write_and_sign(app):
    world = notes_world(1)
    stranger = make_user("provider", name="Dr. Other", npi="1234567893")
    with pytest.raises(ServiceError):
        notes.save_draft(world.session, group=world.group_section(), members={}, by=stranger)
    with pytest.raises(ServiceError):
        notes.save_draft(world.session, group=world.group_section(), members={}, by=world.admin)
    assert not notes.notes_page(world.session, by=world.admin).can_write


def test_a_session_not_held_has_no_notes_yet(app):
    world = notes_world(1)
    world.session.status = "scheduled"
    world.session.save()
    with pytest.raises(ServiceError):
        world.write_all()


def test_a_signed_members_attendance_cannot_turn_absent(app):
    from groups.services import attendance

    world = notes_world(2)
    world.write_all()
    sign(world, member_ids=[world.members[0].id])
    signed, draft = world.members
    entries = attendance.roster(world.session)
    token = attendance.version_token(entries)
    with pytest.raises(attendance.RosterError) as error:
        attendance.save_roster(
            world.session, {signed.id: "absent", draft.id: "present"}, {}, token, by=world.lead
        )
    assert list(error.value.member_errors) == [signed.id]
    attendance.save_roster(
        world.session, {signed.id: "late", draft.id: "absent"}, {}, token, by=world.lead
    )
    page = notes.notes_page(world.session, by=world.lead)
    assert [b.member_id for b in page.members] == [signed.id]


# ---- Addenda and co-signature -------------------------------------------------------------


def test_addenda_follow_a_signed_note_and_are_append_only(app):
    world = notes_world(1)
    member = world.members[0]
    world.write_all()
    with pytest.raises(ServiceError):
        notes.add_addendum(
            world.session,
            member_id=member.id,
            text="Too early",
            signature_name=world.lead.name,
            password=PASSWORD,
            by=world.lead,
        )
    sign(world)
    addendum = notes.add_addendum(
        world.session,
        member_id=member.id,
        text="Called after the session: sleeping better.",
        signature_name=world.lead.name,
        password=PASSWORD,
        by=world.lead,
    )
    notes.add_addendum(
        world.session,
        member_id=None,
        text="The session ran ten minutes over.",
        signature_name=world.lead.name,
        password=PASSWORD,
        by=world.lead,
    )
    page = notes.notes_page(world.session, by=world.lead)
    assert [a.text for a in page.members[0].addenda] == [
        "Called after the session: sleeping better."
    ]
    assert [a.text for a in page.group_note.addenda] == ["The session ran ten minutes over."]
    addendum.text = "rewritten"
    with pytest.raises(PermissionError):
        addendum.save()
    with pytest.raises(PermissionError):
        addendum.delete_instance()
    with pytest.raises(PermissionError):
        NoteAddendum.update(text="x")
    with pytest.raises(PermissionError):
        NoteAddendum.delete()
    assert NoteAddendum.get_by_id(addendum.id).text == "Called after the session: sleeping better."
    assert actions().count("clinical_note_addendum") == 2


def test_the_lead_cosigns_a_co_facilitators_note(app):
    world = notes_world(1, co=True)
    member = world.members[0]
    world.write_all(by=world.co)
    sign(world, by=world.co)
    page = notes.notes_page(world.session, by=world.lead)
    assert page.members[0].can_cosign
    assert not notes.notes_page(world.session, by=world.co).members[0].can_cosign
    with pytest.raises(ServiceError):
        notes.cosign(
            world.session, member.id, signature_name=world.co.name, password=PASSWORD, by=world.co
        )
    note = notes.cosign(
        world.session, member.id, signature_name=world.lead.name, password=PASSWORD, by=world.lead
    )
    assert note.cosigned_by_id == world.lead.id and note.cosignature_name == world.lead.name
    with pytest.raises(notes.NoteLocked):
        notes.cosign(
            world.session,
            member.id,
            signature_name=world.lead.name,
            password=PASSWORD,
            by=world.lead,
        )
    assert ChargeLine.get().rendering_provider_id == world.co.id
    assert "clinical_note_cosigned" in actions()


# ---- The name check -------------------------------------------------------------------------


def test_the_name_check_flags_a_co_members_first_name(app):
    world = notes_world(2)
    writer, other = world.members
    first = other.name.split()[0]
    notes.save_draft(
        world.session,
        group=world.group_section(),
        members={
            writer.id: world.member_section(
                writer, observations=f"Paired with {first.lower()} today."
            ),
            other.id: world.member_section(other),
        },
        by=world.lead,
    )
    page = notes.notes_page(world.session, by=world.lead)
    assert page.members[[b.member_id for b in page.members].index(writer.id)].name_hold == [
        first.lower()
    ]
    result = sign(world)
    assert result.signed == [other.id]
    assert [(h.member_id, h.words) for h in result.held] == [(writer.id, [first.lower()])]
    assert MemberNote.get(MemberNote.member == writer.id).status == "draft"
    with pytest.raises(notes.NamesFound) as error:
        sign(world, include_group=False)
    assert error.value.field == f"member-{writer.id}-name_check_reason"
    sign(world, reasons={writer.id: "They chose to practice together; both consented."})
    note = MemberNote.get(MemberNote.member == writer.id)
    assert note.is_signed and note.name_check_reason.startswith("They chose")
    confirmed = AuditLog.get(AuditLog.action == "clinical_note_name_confirmed")
    assert confirmed.target_id == note.id and "consented" not in confirmed.detail


def test_an_addendum_to_a_member_note_may_not_name_another_member(app):
    world = notes_world(2, signed=True)
    writer, other = world.members
    with pytest.raises(ServiceError) as error:
        notes.add_addendum(
            world.session,
            member_id=writer.id,
            text=f"Spoke with {other.name.split()[-1]} afterwards.",
            signature_name=world.lead.name,
            password=PASSWORD,
            by=world.lead,
        )
    assert error.value.field == "text"
    assert NoteAddendum.select().count() == 0


def test_the_name_check_matches_whole_words_only(app):
    names = {1: {"Dana", "Quinn"}, 2: {"Al", "Reyes"}}
    assert notes.names_in(["Dana was calm", "quinn"], 2, names) == ["Dana", "quinn"]
    assert notes.names_in(["Reyesville; also Alan"], 1, names) == []
    assert notes.names_in(["Al spoke"], 1, names) == ["Al"]


# ---- Risk, scores and the over-12 warning ----------------------------------------------------


def test_high_risk_on_a_signed_note_opens_one_safety_alert(app):
    world = notes_world(1)
    member = world.members[0]
    notes.save_draft(
        world.session,
        group=world.group_section(),
        members={
            member.id: world.member_section(
                member, risk_level="high", risk_text="Passive thoughts of death; safety plan made."
            )
        },
        by=world.lead,
    )
    assert SafetyAlert.select().count() == 0
    sign(world)
    alert = SafetyAlert.get()
    assert (alert.member_id, alert.group_id, alert.status) == (member.id, world.group.id, "open")
    assert notes.notes_page(world.session, by=world.lead).members[0].alert_id == alert.id


def test_the_latest_scores_are_snapshotted_on_the_note(app):
    from groups.services import outcomes

    world = notes_world(1)
    member = world.members[0]
    outcomes.enter_paper(world.session, member, "phq9", [1, 1, 1, 1, 1, 1, 1, 1, 0], by=world.lead)
    world.write_all()
    snapshot = json.loads(MemberNote.get().scores_snapshot)
    assert [(s["measure"], s["total"]) for s in snapshot] == [("phq9", 8)]
    page = notes.notes_page(world.session, by=world.lead)
    assert [(s.title, s.total) for s in page.members[0].scores] == [(snapshot[0]["title"], 8)]


def test_more_than_twelve_present_warns(app):
    assert notes.notes_page(notes_world(12).session, by=make_user("admin")).over_limit is False
    world = notes_world(13)
    page = notes.notes_page(world.session, by=world.lead)
    assert page.present_count == 13 and page.over_limit


def test_the_page_reads_in_a_fixed_number_of_queries(app):
    small = notes_world(2, absent=1, signed=True)
    large = notes_world(12, absent=3, signed=True)
    with count_queries() as few:
        notes.notes_page(small.session, by=small.lead)
    with count_queries() as many:
        notes.notes_page(large.session, by=large.lead)
    assert many.n == few.n


# ---- Notes due ------------------------------------------------------------------------------


def test_notes_due_lists_held_sessions_with_unsigned_notes(app):
    world = notes_world(3)
    due = notes.notes_due_for(world.lead)
    assert [(d.session_id, d.unsigned, d.age_days) for d in due] == [(world.session.id, 4, 2)]
    world.write_all()
    sign(world, member_ids=[world.members[0].id])
    assert notes.notes_due_for(world.lead)[0].unsigned == 2
    by_provider = notes.notes_due_by_provider()
    assert [(p.provider_id, len(p.sessions), p.oldest_days) for p in by_provider] == [
        (world.lead.id, 1, 2)
    ]
    sign(world)
    assert notes.notes_due_for(world.lead) == []
    assert notes.notes_due_for(make_user("provider")) == []


# ---- Diagnoses and NPI ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["F41.1", "f411", "F32.A", "F33.41", "Z63.0", "F90.2 F41.1"])
def test_icd10_codes_in_the_right_shape_are_accepted(text):
    assert codes.parse_icd10(text)


@pytest.mark.parametrize("text", ["41.1", "F4", "FF1.1", "F41.12345", "F41.1-", "diagnosis"])
def test_icd10_codes_in_the_wrong_shape_are_refused(text):
    with pytest.raises(ServiceError) as error:
        codes.parse_icd10(text)
    assert error.value.field == "diagnosis_codes"


def test_icd10_codes_are_normalised_and_deduplicated():
    assert codes.parse_icd10("f411, F41.1; f32a") == ("F41.1", "F32.A")


def test_the_bundled_short_list_covers_the_three_focuses():
    listed = codes.common_codes()
    assert {c.focus for c in listed} == {"anxiety", "depression", "adhd"}
    assert all(codes.is_icd10(c.code) and c.description for c in listed)
    assert codes.describe("F90.2").startswith("Attention-deficit")


@pytest.mark.parametrize("npi", ["1234567893", "1558598797", "1234-567-893"])
def test_valid_npis_are_accepted(npi):
    assert codes.parse_npi(npi)


@pytest.mark.parametrize(
    "npi", ["1234567890", "123456789", "12345678931", "abcdefghij", "１２３４５６７８９３"]
)
def test_invalid_npis_are_refused(npi):
    with pytest.raises(ServiceError) as error:
        codes.parse_npi(npi)
    assert error.value.field == "npi"


def test_set_diagnoses_and_npi_are_audited(app):
    world = notes_world(1)
    enrollment = world.members[0].enrollments.get()
    notes.set_diagnoses(enrollment, "f90.2, F41.1", by=world.lead)
    assert enrollment.diagnosis_codes == "F90.2 F41.1"
    notes.set_npi(world.lead, "", by=world.admin)
    assert world.lead.npi is None
    with pytest.raises(ServiceError):
        notes.set_npi(world.members[0], "1234567893", by=world.admin)
    entry = AuditLog.get(AuditLog.action == "diagnosis_changed")
    assert "F90" not in entry.detail
    assert "npi_changed" in actions()


def test_an_account_change_with_a_refused_npi_saves_nothing(app):
    """The account's fields and its NPI are one transaction: a bad NPI keeps the old name."""
    world = notes_world(1)
    old_name, old_npi = world.lead.name, world.lead.npi
    with pytest.raises(ServiceError) as error:
        accounts.update_user(world.lead, changed_by=world.admin, name="Renamed", npi="1234567890")
    assert error.value.field == "npi"
    stored = User.get_by_id(world.lead.id)
    assert (stored.name, stored.npi) == (old_name, old_npi)
    assert "account_changed" not in actions()


def test_a_new_provider_with_a_refused_npi_is_not_created(app):
    world = notes_world(1)
    with pytest.raises(ServiceError):
        accounts.create_invited(
            "new.provider@example.org",
            "New Provider",
            "provider",
            timezone="America/New_York",
            created_by=world.admin,
            npi="1234567890",
        )
    assert User.get_or_none(User.email == "new.provider@example.org") is None


# ---- Printing -------------------------------------------------------------------------------


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_a_members_pdf_never_holds_another_members_name(app):
    world = notes_world(3)
    reader, *others = world.members
    other_first, other_last = others[0].name.split()
    notes.save_draft(
        world.session,
        group=world.group_section(group_process=f"{other_first} led the role play well."),
        members={
            reader.id: world.member_section(reader, observations=f"Helped {other_last} practice."),
            **{m.id: world.member_section(m) for m in others},
        },
        by=world.lead,
    )
    sign(world, reasons={reader.id: "Describes a shared exercise."})
    pdf, filename = notes.member_note_pdf(world.session, reader.id, by=world.lead)
    text = pdf_text(pdf)
    assert reader.name in text and "Helped [member] practice." in text
    for other in others:
        for word in other.name.split():
            assert word not in text
    assert "Noticing early signs of worry." in text
    assert filename == f"progress-note-{world.session.id}-{reader.id}.pdf"
    printed = AuditLog.get(AuditLog.action == "clinical_note_printed")
    assert json.loads(printed.detail) == {"member_id": reader.id, "session_id": world.session.id}


def test_the_private_session_note_is_never_printed(app):
    from groups.services import notes as private_notes

    world = notes_world(1, signed=True)
    private_notes.save_note(world.session, "PRIVATE-PSYCHOTHERAPY-TEXT", "", by=world.lead)
    pdf, _ = notes.member_note_pdf(world.session, world.members[0].id, by=world.lead)
    assert "PRIVATE-PSYCHOTHERAPY-TEXT" not in pdf_text(pdf)


def test_a_draft_is_not_printed(app):
    world = notes_world(1)
    world.write_all()
    with pytest.raises(ServiceError):
        notes.member_note_pdf(world.session, world.members[0].id, by=world.lead)


# ---- Audit ----------------------------------------------------------------------------------


def test_every_view_save_and_signature_is_audited_with_ids_only(app):
    world = notes_world(2, signed=True)
    notes.notes_page(world.session, by=world.lead)
    done = actions()
    assert done.count("clinical_note_saved") == 3
    assert done.count("clinical_note_signed") == 3
    assert done.count("charge_created") == 2
    assert done.count("clinical_note_viewed") == 1
    for entry in AuditLog.select():
        for member in world.members:
            assert member.name not in entry.detail
        assert "breathing" not in entry.detail


# ---- Demo data ------------------------------------------------------------------------------


def test_the_small_demo_has_a_clinical_record(app):
    from groups.demo import load_demo
    from groups.models import Enrollment, GroupNote, Session, User

    load_demo("small")
    assert not Enrollment.select().where(Enrollment.diagnosis_codes == "").exists()
    assert all(codes.parse_icd10(e.diagnosis_codes) for e in Enrollment.select())
    providers = list(User.select().where(User.role == "provider"))
    assert providers and all(codes.is_npi(p.npi) for p in providers)
    signed = MemberNote.select().where(MemberNote.status == "signed")
    assert signed.count() > 20
    assert ChargeLine.select().count() == signed.count()
    assert (
        GroupNote.select().where(GroupNote.status == "signed").count()
        > GroupNote.select().where(GroupNote.status == "draft").count()
    )
    assert not GroupNote.select().join(Session).where(Session.status != "held").exists()
    demo_provider = User.by_email("provider@example.org")
    due = notes.notes_due_for(demo_provider)
    assert due and all(d.unsigned > 0 for d in due)
    assert notes.notes_due_by_provider()
    # A demo session's page reads and a signed note prints for the chart.
    note = signed.first()
    session = Session.get_by_id(note.session_id)
    page = notes.notes_page(session, by=demo_provider)
    assert page.group_note.is_signed
    pdf, _ = notes.member_note_pdf(session, note.member_id, by=demo_provider)
    assert pdf.startswith(b"%PDF")
