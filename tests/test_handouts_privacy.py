"""No PHI in member-facing URLs or download names.

A handout slug such as ``anxiety-03-calming-the-body`` names the member's
diagnosis; in a URL it would end up in access logs and browser history, in a
file name in their downloads folder. This walks every page a member can reach
from their schedule, progress and calendar pages (three groups, one per
focus, with catch-ups and packets) and checks every link, form action and
redirect, then downloads every PDF and checks its file name.
"""

from __future__ import annotations

import datetime
import re
from urllib.parse import unquote, urlsplit

from test_handouts_views import stub_write_pdf

from groups.curricula import CURRICULA
from groups.handouts import load_library, render
from groups.models import Module, PacketItem, Session
from groups.services import attendance
from groups.services import enrollment as enrollment_service
from groups.services import groups as group_service
from groups.services import schedule as schedule_service
from tests.world import login

FOCUS_WORDS = ("anxiety", "anxious", "depression", "depressed", "adhd")
NEUTRAL_FILENAME = re.compile(r'filename="(handout-\d+-\d+|session-packet-\d+)\.pdf"')
FIRST_DAY = datetime.date(2026, 1, 6)


def forbidden_words() -> set[str]:
    words = set(FOCUS_WORDS)
    words.update(m.key for modules in CURRICULA.values() for m in modules)
    words.update(h.slug for h in load_library())
    return words


def mark(session, member, status, lead, clock):
    clock.set(session.starts_at + datetime.timedelta(minutes=20))
    entries = attendance.roster(session)
    attendance.save_roster(
        session, {member.id: status}, {}, attendance.version_token(entries), by=lead
    )


def member_in_every_focus(make_user, frozen_time):
    """One member in an anxiety, a depression and an ADHD group; each group
    has a missed module 1 and 9 (catch-ups) and a packet on its last session."""
    frozen_time.set(datetime.datetime(2026, 1, 5, 14, 0, tzinfo=datetime.UTC))
    lead = make_user("provider", name="Dr. Lead")
    member = make_user("member", name="Mia Member")
    groups = []
    for i, focus in enumerate(CURRICULA):
        group = group_service.create_group(
            lead,
            {
                "name": f"{focus.capitalize()} skills group",
                "focus": focus,
                "description": "",
                "capacity": 10,
                "format": "closed",
                "location": "Room 3",
                "timezone": "America/New_York",
                "status": "active",
            },
            [],
            by=lead,
        )
        enrollment_service.enroll(group, member, by=lead)
        schedule_service.create_schedule(
            group,
            start_date=FIRST_DAY,
            weekday=FIRST_DAY.weekday(),
            start_time=datetime.time(14 + 2 * i, 0),  # one lead: the groups may not overlap
            duration_minutes=90,
            session_count=10,
            by=lead,
        )
        groups.append(group)
    sessions = {
        g.id: list(Session.select().where(Session.group == g).order_by(Session.starts_at))
        for g in groups
    }
    for n, status in ((0, "absent"), (1, "present"), (8, "excused")):
        for g in groups:
            mark(sessions[g.id][n], member, status, lead, frozen_time)
    lib = load_library()
    for g in groups:
        last = sessions[g.id][9]
        module = Module.get_by_id(last.module_id)
        guidance = next(h for h in lib.for_focus(g.focus) if h.kind == "guidance")
        PacketItem.create(session=last, handout_slug=module.key, position=0)
        PacketItem.create(session=last, handout_slug=guidance.slug, position=1)
    return member


def links(html: str, attributes: str = "href|src") -> list[str]:
    return [
        value.replace("&amp;", "&") for value in re.findall(rf'(?:{attributes})="([^"]*)"', html)
    ]


def assert_neutral(url: str, words: set[str], where: str) -> None:
    text = unquote(url).lower()
    found = sorted(w for w in words if w in text)
    assert not found, f"{url} (on {where}) contains {found}"


def test_member_urls_and_download_names_carry_no_focus_or_slug(
    client, make_user, frozen_time, monkeypatch
):
    monkeypatch.setattr(render, "_write_pdf", stub_write_pdf)
    member = member_in_every_focus(make_user, frozen_time)
    words = forbidden_words()
    login(client, member)
    assert client.post("/calendar/link").status_code in (200, 302, 303)

    queue = ["/schedule", "/progress", "/calendar"]
    seen: set[str] = set()
    pdfs: set[str] = set()
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        assert_neutral(url, words, "the crawl")
        response = client.get(url)
        assert response.status_code in (200, 302), url
        if response.status_code == 302:
            assert_neutral(response.headers["Location"], words, url)
            continue
        html = response.get_data(as_text=True)
        for link in links(html, "action|content|value"):  # checked, not followed
            assert_neutral(link, words, url)
        for link in links(html):
            assert_neutral(link, words, url)
            parts = urlsplit(link)
            if parts.netloc and parts.netloc != "localhost":
                continue
            path = parts.path
            if not path.startswith("/") or path.startswith(("/static/", "/feed/", "/logout")):
                continue
            if path.endswith(".pdf"):
                pdfs.add(path)
            elif path not in seen:
                queue.append(path)

    member_handouts = {p for p in pdfs if p.startswith("/handouts/my/modules/")}
    packets = {p for p in pdfs if p.startswith("/handouts/my/sessions/")}
    # Modules 1 and 9 missed in each of three groups; one packet per group.
    assert len(member_handouts) >= 6 and len(packets) == 3, sorted(pdfs)
    assert pdfs == member_handouts | packets
    for path in sorted(pdfs):
        response = client.get(path)
        assert response.status_code == 200, path
        disposition = response.headers["Content-Disposition"]
        assert NEUTRAL_FILENAME.search(disposition), disposition
        assert_neutral(disposition, words, path)


def test_a_catch_up_link_of_one_member_is_404_for_another(client, make_user, frozen_time):
    member = member_in_every_focus(make_user, frozen_time)
    other = make_user("member", name="Other Member")
    login(client, member)
    page = client.get("/progress").get_data(as_text=True)
    url = next(u for u in links(page) if u.startswith("/handouts/my/modules/"))
    login(client, other)
    assert client.get(url).status_code == 404
