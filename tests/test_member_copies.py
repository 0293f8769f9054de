"""One copy of a session's packet per member: laid out once, a name stamped on each.

The packet is rendered by WeasyPrint once and each member's name is drawn on
by a name layer (groups/handouts/render.py). These tests check what a
provider prints: a copy per member, each paged on its own and naming only
its member, looking the same as a copy rendered whole; that the number of
WeasyPrint calls does not grow with the members; and that a batch too big
for one request is refused with a message instead of running into the
worker's timeout.
"""

from __future__ import annotations

import dataclasses
import io
import re
import shutil
import subprocess

import pytest
from pypdf import PdfReader
from test_handouts_views import (  # noqa: F401  (world is a fixture)
    GUIDANCE,
    MODULE_HANDOUT,
    assert_pdf_attachment,
    enroll,
    set_packet,
    stub_write_pdf,
    world,
)

from groups.handouts import load_library, render
from groups.services import handouts as handout_service
from tests.world import login

NAMES = ["Annabel Quist", "Bodhi Ramsey", "Chidi Okafor", "Dana O'Neil & Co"]


def flat(text: str) -> str:
    return " ".join(text.split())


def copies_of(data: bytes, count: int) -> list[list[str]]:
    """The text of each page, split into ``count`` copies of equal length."""
    pages = [flat(page.extract_text()) for page in PdfReader(io.BytesIO(data)).pages]
    assert len(pages) % count == 0, len(pages)
    size = len(pages) // count
    return [pages[n * size : (n + 1) * size] for n in range(count)]


@pytest.fixture
def calls(monkeypatch):
    """The HTML of every WeasyPrint call: ("packet" | "layer", html)."""
    seen: list[tuple[str, str]] = []
    original = render._write_pdf

    def spy(html):
        seen.append(("layer" if 'class="name-layer"' in html else "packet", html))
        return original(html)

    monkeypatch.setattr(render, "_write_pdf", spy)
    return seen


@pytest.fixture
def four_members(world, make_user):  # noqa: F811
    """Group A's two members and two more (one name needs escaping)."""
    for name in NAMES[2:]:
        enroll(world["group_a"], make_user("member", name=name))
    return world


def test_one_copy_per_member_each_paged_and_named_on_its_own(client, four_members, calls):
    w = four_members
    session = w["session_a"]
    set_packet(session, MODULE_HANDOUT, GUIDANCE)
    login(client, w["provider_a"])
    response = client.get(f"/handouts/sessions/{session.id}/member-copies.pdf")
    assert_pdf_attachment(response, f"session-packet-{session.id}-member-copies.pdf")

    # WeasyPrint ran twice for four members: the packet, then all four names.
    assert [kind for kind, _ in calls] == ["packet", "layer"]
    provider_copy = client.get(f"/handouts/sessions/{session.id}/packet.pdf")
    pages = len(PdfReader(io.BytesIO(provider_copy.data)).pages)
    assert pages == 4  # two handouts of two pages
    reader = PdfReader(io.BytesIO(response.data))
    assert len(reader.pages) == len(NAMES) * pages
    assert [item.title for item in reader.outline] == [f"Copy for {n}" for n in sorted(NAMES)]

    for name, copy in zip(sorted(NAMES), copies_of(response.data, len(NAMES)), strict=True):
        text = " ".join(copy)
        for page_number, page in enumerate(copy, 1):
            # Every page names its reader in the footer and counts this copy's pages.
            assert f"Copy for {name}" in page
            assert f"Page {page_number} of {pages}" in page
        for other in NAMES:
            if other != name:
                assert other.split()[0] not in text, (name, other)
        # Each handout's first page also carries the name in its masthead.
        assert text.count(f"Copy for {name}") == pages + 2


def test_more_members_do_not_mean_more_renders(client, four_members, calls):
    session = four_members["session_a"]
    set_packet(session, GUIDANCE)
    login(client, four_members["provider_a"])
    client.get(f"/handouts/sessions/{session.id}/member-copies.pdf")
    assert [kind for kind, _ in calls] == ["packet", "layer"]
    # A fifth member: the packet comes from the cache, the names are one call.
    enroll(four_members["group_a"], four_members["other"])
    response = client.get(f"/handouts/sessions/{session.id}/member-copies.pdf")
    assert [kind for kind, _ in calls] == ["packet", "layer", "layer"]
    assert len(PdfReader(io.BytesIO(response.data)).pages) == 5 * 2
    # The provider's own copy is the same packet with no name on it.
    plain = client.get(f"/handouts/sessions/{session.id}/packet.pdf")
    assert [kind for kind, _ in calls] == ["packet", "layer", "layer", "layer"]
    text = flat(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(plain.data)).pages))
    assert "Copy for" not in text and "Page 2 of 2" in text


def test_too_many_pages_are_refused_with_what_to_do(client, four_members, monkeypatch):
    layers = []

    def stub(html):  # a one-page packet
        if 'class="name-layer"' in html:
            layers.append(html)
        return stub_write_pdf(html)

    monkeypatch.setattr(render, "_write_pdf", stub)
    monkeypatch.setattr(handout_service, "MAX_COPY_PAGES", 3)
    session = four_members["session_a"]
    set_packet(session, GUIDANCE)
    login(client, four_members["provider_a"])
    response = client.get(f"/handouts/sessions/{session.id}/member-copies.pdf")
    # The session page again, with the reason in its packet panel (the one error convention).
    assert response.status_code == 422
    page = flat(response.get_data(as_text=True))
    assert (
        "4 copies of this 1-page packet would be 4 pages, more than the 3 one download can "
        "hold. Download the provider copy and print 4 of it, or pick fewer handouts; each "
        "member can also download their own copy from their schedule."
    ) in page
    assert layers == []  # refused before any name was laid out
    monkeypatch.setattr(handout_service, "MAX_COPY_PAGES", 4)
    assert_pdf_attachment(client.get(f"/handouts/sessions/{session.id}/member-copies.pdf"))
    assert len(layers) == 1


def test_the_default_cap_holds_a_full_group_of_full_packets():
    """24 members with ten two-page handouts fit; the cap stops double that."""
    assert 24 * 10 * 2 <= handout_service.MAX_COPY_PAGES < 50 * 10 * 2


@pytest.mark.parametrize("shows_focus", [False, True])
def test_member_copies_obey_the_focus_switch(client, world, shows_focus):  # noqa: F811
    session = world["session_b"]  # an ADHD group; this handout never says "ADHD"
    set_packet(session, GUIDANCE, shows_focus=shows_focus)
    login(client, world["provider_b"])
    response = client.get(f"/handouts/sessions/{session.id}/member-copies.pdf")
    # The file name never names the group or its focus.
    assert_pdf_attachment(response, f"session-packet-{session.id}-member-copies.pdf")
    text = flat(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages))
    assert ("FOCUS ADHD" in text) == shows_focus
    assert "ADHD" not in PdfReader(io.BytesIO(response.data)).metadata.title
    assert "Copy for Otto Elsewhere" in text


def test_a_members_own_download_names_only_them(client, four_members):
    session = four_members["session_a"]
    set_packet(session, MODULE_HANDOUT)
    login(client, four_members["bo"])
    response = client.get(f"/handouts/my/sessions/{session.id}.pdf")
    assert_pdf_attachment(response, f"session-packet-{session.id}.pdf")
    reader = PdfReader(io.BytesIO(response.data))
    text = flat(" ".join(p.extract_text() for p in reader.pages))
    assert "Copy for Bodhi Ramsey" in text
    assert not re.search(r"Annabel|Chidi|Dana", text)
    # A single copy keeps the packet's tagged structure and language.
    assert "/StructTreeRoot" in reader.trailer["/Root"]
    assert reader.trailer["/Root"]["/Lang"] == "en"


# ---- Looks: a stamped copy prints what a copy rendered whole prints -------------


def gray_pages(pdf: bytes, tmp_path, stem: str) -> list[bytes]:
    source = tmp_path / f"{stem}.pdf"
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-gray", "-r", "72", str(source), str(tmp_path / stem)],
        check=True,
        timeout=60,
    )
    return [path.read_bytes() for path in sorted(tmp_path.glob(f"{stem}-*.pgm"))]


def test_a_stamped_copy_looks_like_a_copy_rendered_whole(tmp_path):
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    library = load_library()
    handouts = [library[MODULE_HANDOUT], library[GUIDANCE]]
    context = render.PrintContext(
        practice_name="Riverside Psychiatry Associates",
        group_name="Tuesday Evening Group",
        session_date="Wednesday 14 May 2031",
        module_title="Calming the body",
        practice_phone="(555) 010-2040",
    )
    name = "Zoë O'Brien-Łukasiewicz"
    whole = render.render_handouts_pdf(
        handouts, dataclasses.replace(context, member_name=name), title="Packet"
    )
    stamped = render.render_copies(handouts, context, [name], title="Packet")
    expected = gray_pages(whole, tmp_path, "whole")
    got = gray_pages(stamped, tmp_path, "stamped")
    assert len(got) == len(expected) >= 3
    for number, (a, b) in enumerate(zip(expected, got, strict=True), 1):
        differing = sum(1 for x, y in zip(a, b, strict=True) if abs(x - y) > 32)
        assert differing <= 20, f"page {number}: {differing} pixels differ"
