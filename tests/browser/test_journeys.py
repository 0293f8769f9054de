"""The product as its three kinds of users meet it, in a real browser.

Four journeys (issue 8): an admin sets up the practice and exports its
calendar; a provider on a desktop runs an ADHD group from creation to a
session packet; a member on a 375 px phone follows their group; and the
browser-side security of logout and inactivity. Two more walks check the
staff pages at 375 px and the keyboard alone. Every page visited is
screenshotted into ``tmp_path`` and checked with axe-core (``tour.Tour``):
no serious or critical violation, one ``h1``, nothing wider than the screen.

The provider's first session is later today, in whichever zone is in its
working day now (``daytime_zone``): schedules cannot start in the past. Before
attendance is taken the first session is moved to have just begun
(``begin_now``), since attendance opens 15 minutes before the start and a
session counts as held only once it has started.
"""

from __future__ import annotations

import datetime
import re
import time
import zoneinfo

import pytest

from groups.models import Closure, Enrollment, Group, Session
from groups.services import attendance as attendance_service
from groups.services import enrollment as enrollment_service
from groups.services import groups as group_service
from groups.services import handouts as handout_service
from groups.services import schedule as schedule_service

from .conftest import BROWSER_PASSWORD, DESKTOP, PHONE, log_in, main_menu
from .tour import Tour, update_docs

pytestmark = pytest.mark.browser

CANCEL_REASON = "Facilitator unwell: we pick up next week"

# Zones spread round the world: one of them always has its working day now,
# so a schedule can start later today and attendance can be taken today.
DAYTIME_ZONES = [
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "America/Sao_Paulo",
]


def daytime_zone() -> tuple[str, datetime.datetime]:
    """A zone where it is now between 06:00 and 20:00, and a start time later today there."""
    now = datetime.datetime.now(datetime.UTC)
    for tz in DAYTIME_ZONES:
        local = now.astimezone(zoneinfo.ZoneInfo(tz))
        if 6 <= local.hour < 20:
            # At least an hour ahead, so a slow run never reaches the start time.
            start = local.replace(minute=0, second=0, microsecond=0) + datetime.timedelta(hours=2)
            return tz, start
    raise AssertionError("no zone in DAYTIME_ZONES is in its working day")  # pragma: no cover


def begin_now(session: Session) -> None:
    """Let the session have begun a minute ago, keeping its length."""
    starts = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    starts -= datetime.timedelta(minutes=1)
    length = session.ends_at - session.starts_at
    Session.update(starts_at=starts, ends_at=starts + length).where(
        Session.id == session.id
    ).execute()


def dress_for_docs(live_server) -> None:
    """The README's screenshots show the default practice name, not the tests' one."""
    if update_docs():
        live_server.app.config["PRACTICE_NAME"] = "Riverside Psychiatry"


def finish(tour: Tour, new_page) -> None:
    """The journey's verdict on accessibility, layout and console errors.

    Moderate and minor axe findings do not fail the journey; they are written
    next to the screenshots for whoever reads them.
    """
    (tour.directory / f"{tour.name}-axe-notes.txt").write_text("\n".join(tour.notes) + "\n")
    assert tour.problems == [], "\n".join(tour.problems)
    assert new_page.errors == []


def next_quarter(today: datetime.date) -> tuple[datetime.date, datetime.date]:
    first_month = (today.month - 1) // 3 * 3 + 1 + 3
    year = today.year + (first_month > 12)
    first_month = (first_month - 1) % 12 + 1
    start = datetime.date(year, first_month, 1)
    after = datetime.date(year + (first_month == 10), (first_month + 2) % 12 + 1, 1)
    return start, after - datetime.timedelta(days=1)


# ---- 1. Admin -----------------------------------------------------------------------


def test_admin_sets_up_people_and_a_closure_and_exports_next_quarter(
    live_server, new_page, tmp_path
):
    from icalendar import Calendar
    from playwright.sync_api import expect

    url = live_server.url
    dress_for_docs(live_server)
    admin = live_server.add_user("admin", name="Avery Admin")
    page = new_page(DESKTOP)
    tour = Tour(page, tmp_path, "admin")
    log_in(page, url, admin, tour)
    expect(page).to_have_url(url + "/admin/")
    tour.visit("admin home")

    # A provider and a member, each with a one-time set-password link.
    for name, email, role, tz in [
        ("Dr. Priya Raman", "priya.raman@example.org", "provider", "America/New_York"),
        ("Morgan Lee", "morgan.lee@example.org", "member", "America/Chicago"),
    ]:
        main_menu(page).get_by_role("link", name="People", exact=True).click()
        first = role == "provider"  # the second time round shows the same pages
        if first:
            tour.visit("people, only the admin")
        page.get_by_role("link", name="Add a person").click()
        if first:
            tour.visit("add a person")
        page.get_by_label("Full name").fill(name)
        page.get_by_label("Email").fill(email)
        page.get_by_label("Role").select_option(role)
        page.get_by_label("Time zone").fill(tz)
        page.get_by_role("button", name="Create account").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(f"Set-password link for {name}")
        expect(page.get_by_label("Set-password link")).to_have_value(
            re.compile(re.escape(url) + "/set-password/.+")
        )
        if first:
            tour.visit("set-password link")
    page.get_by_role("link", name="Done").click()
    rows = page.locator("table tbody tr")
    expect(rows.filter(has_text="Dr. Priya Raman")).to_contain_text("Provider")
    expect(rows.filter(has_text="Morgan Lee")).to_contain_text("No password yet")
    tour.visit("people", doc="admin.png")

    # A practice closure in the middle of next quarter.
    practice_tz = zoneinfo.ZoneInfo(live_server.app.config["PRACTICE_TIMEZONE"])
    today = datetime.datetime.now(practice_tz).date()
    q_start, q_end = next_quarter(today)
    closed = q_start + datetime.timedelta(days=14)
    main_menu(page).get_by_role("link", name="Closures").click()
    tour.visit("closures empty")
    page.get_by_label("Date").fill(closed.isoformat())
    page.get_by_label("Reason (e.g. holiday)").fill("Staff training day")
    page.get_by_role("button", name="Add closure").click()
    expect(page.locator("main")).to_contain_text("Staff training day")
    tour.visit("closures")
    assert Closure.get().date == closed

    # The new provider's weekly group runs through next quarter; its schedule
    # (made now, as the provider would) skips the closed day.
    from groups.models import User

    provider = User.get(User.email == "priya.raman@example.org")
    group = group_service.create_group(
        provider,
        {
            "name": "Thursday depression group",
            "focus": "depression",
            "description": "",
            "capacity": 8,
            "format": "closed",
            "location": "Room 2",
            "timezone": "America/New_York",
            "status": "active",
        },
        [],
        by=provider,
    )
    schedule_service.create_schedule(
        group,
        start_date=q_start,
        weekday=closed.weekday(),
        start_time=datetime.time(17, 30),
        duration_minutes=90,
        session_count=6,
        by=provider,
    )

    # The practice calendar for next quarter, downloaded and opened.
    main_menu(page).get_by_role("link", name="Calendars").click()
    tour.visit("calendar export")
    page.get_by_label("Calendar of").select_option("practice")
    page.get_by_label("From").fill(q_start.isoformat())
    page.get_by_label("To (inclusive)").fill(q_end.isoformat())
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download calendar").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".ics")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    calendar = Calendar.from_ical(saved.read_bytes())
    assert str(calendar["X-WR-CALNAME"])
    events = calendar.walk("VEVENT")
    assert len(events) == 6
    days = sorted(e.decoded("DTSTART").date() for e in events)
    assert closed not in days and days[0] >= q_start and days[-1] <= q_end
    assert days[2] - days[1] == datetime.timedelta(days=14)  # the skipped week
    assert all(str(e["LOCATION"]) == "Room 2" for e in events)
    assert {str(t["TZID"]) for t in calendar.walk("VTIMEZONE")} == {"America/New_York"}

    # The group is on the practice's list, and the export is in the audit log.
    main_menu(page).get_by_role("link", name="Groups", exact=True).click()
    expect(page.locator("main")).to_contain_text("Thursday depression group")
    tour.visit("all groups")
    main_menu(page).get_by_role("link", name="Audit log").click()
    expect(page.locator("main tbody tr").first).to_contain_text("calendar exported")
    tour.visit("audit log")
    finish(tour, new_page)


# ---- 2. Provider ----------------------------------------------------------------------


def test_provider_runs_an_adhd_group_on_a_desktop(live_server, new_page, tmp_path):
    from playwright.sync_api import expect

    url = live_server.url
    dress_for_docs(live_server)
    tz, first_start = daytime_zone()
    provider = live_server.add_user("provider", name="Dr. Jordan Ellis")
    members = [
        live_server.add_user("member", name=name)
        for name in ("Ada Okafor", "Ben Castillo", "Chloé Martin-Lefebvre")
    ]
    page = new_page(DESKTOP)
    tour = Tour(page, tmp_path, "provider")
    log_in(page, url, provider)
    expect(page).to_have_url(url + "/home")
    tour.visit("today empty")

    # An ADHD group with two seats.
    main_menu(page).get_by_role("link", name="My groups").click()
    tour.visit("my groups empty")
    page.get_by_role("link", name="New group").first.click()
    tour.visit("new group")
    page.get_by_label("Group name").fill("Adult ADHD skills group")
    page.get_by_label("Focus").select_option("adhd")
    page.get_by_label("Description").fill("Planning, focus and follow-through, one skill a week.")
    page.get_by_label("Capacity").fill("2")
    page.get_by_label("Format").select_option("closed")
    page.get_by_label("Location").fill("Room 4, 2nd floor")
    page.get_by_label("Time zone").fill(tz)
    page.get_by_label("Status").select_option("active")
    page.get_by_role("button", name="Create group").click()

    # A weekly schedule whose first session is later today.
    expect(page.get_by_role("heading", level=1)).to_contain_text("Schedule for")
    tour.visit("schedule form")
    page.get_by_label("First week starting").fill(first_start.date().isoformat())
    page.get_by_label("Weekday").select_option(str(first_start.weekday()))
    page.get_by_label("Start time").fill(first_start.strftime("%H:%M"))
    page.get_by_label("Duration in minutes").fill("90")
    page.get_by_label("Number of sessions").fill("10")  # one per curriculum module
    page.get_by_role("button", name="Create these sessions").click()
    expect(page.get_by_role("status").first).to_contain_text("Scheduled 10 sessions.")
    group = Group.get(Group.name == "Adult ADHD skills group")
    tour.visit("group without members")

    # Three members for two seats: the third lands on the waitlist.
    for member in members:
        page.get_by_label("Member's name or email").fill(member.email)
        page.get_by_role("button", name="Find and enroll").click()
    expect(page.locator("#roster tbody tr")).to_have_count(2)
    expect(page.locator("ol.waitlist li")).to_have_count(1)
    expect(page.locator("ol.waitlist")).to_contain_text(members[2].name)
    statuses = {e.member_id: e.status for e in Enrollment.select()}
    assert [statuses[m.id] for m in members] == ["active", "active", "waitlisted"]
    tour.visit("group with members", doc="provider.png")

    # Cancel the second session, with a reason members will see.
    sessions = list(Session.select().where(Session.group == group).order_by(Session.starts_at))
    second_row = page.locator("#sessions tbody tr").nth(1)
    second_row.get_by_role("link").first.click()
    page.get_by_role("link", name="Cancel this session").click()
    tour.visit("cancel session")
    page.get_by_label("Reason").fill(CANCEL_REASON)
    page.get_by_role("button", name="Cancel this session").click()
    expect(page.locator("#sessions tbody tr").nth(1)).to_contain_text("Cancelled")
    expect(page.locator("#sessions tbody tr").nth(1)).to_contain_text(CANCEL_REASON)
    assert Session.get_by_id(sessions[1].id).status == "cancelled"
    tour.visit("group after cancel")

    # Attendance for today's first session, by keyboard: Ada present, Ben absent.
    begin_now(sessions[0])
    page.reload()
    page.locator("#sessions tbody tr").first.get_by_role("link", name="Take attendance").click()
    expect(page).to_have_url(f"{url}/sessions/{sessions[0].id}/attendance")
    tour.visit("attendance")
    ada = page.get_by_role("group", name=members[0].name)
    ben = page.get_by_role("group", name=members[1].name)
    ada.get_by_label("Present").check()
    ben.get_by_label("Present").focus()
    page.keyboard.press("ArrowRight")  # Late
    page.keyboard.press("ArrowRight")  # Absent
    expect(ben.get_by_label("Absent")).to_be_checked()
    page.get_by_role("button", name="Save attendance").click()
    expect(page.get_by_role("status").first).to_contain_text("1 present, 1 absent")
    tour.visit("attendance saved")

    # The pacing board: Ben missed module 1 and has a catch-up.
    page.get_by_role("link", name="Pacing board").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Pacing board")
    catch_ups = page.locator("ul.catch-ups li")
    expect(catch_ups).to_have_count(1)
    expect(catch_ups.first).to_contain_text(members[1].name)
    tour.visit("pacing board")

    # Ben's record, the day's overview, the handout library and the calendar export.
    page.locator("table.pacing-board").get_by_role("link", name=members[1].name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(members[1].name)
    tour.visit("member record")
    main_menu(page).get_by_role("link", name="Today").click()
    expect(page.locator("main")).to_contain_text("Adult ADHD skills group")
    tour.visit("today")
    main_menu(page).get_by_role("link", name="Handouts", exact=True).click()
    tour.visit("handout library")
    main_menu(page).get_by_role("link", name="Calendars").click()
    tour.visit("calendar export")

    # A packet for the next session that will take place (the third).
    page.goto(f"{url}/groups/{group.id}")
    page.locator("#sessions tbody tr").nth(2).locator("td").nth(1).get_by_role("link").click()
    expect(page).to_have_url(f"{url}/sessions/{sessions[2].id}")
    tour.visit("session")
    packet = page.locator("#packet")
    packet.get_by_text("More handouts").click()  # not a suggestion for this module
    packet.get_by_text("What to Expect in Group Therapy", exact=False).first.click()
    packet.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").first).to_contain_text("Saved the session's handouts.")
    tour.visit("session with packet")
    with page.expect_download() as download_info:
        packet.get_by_role("link", name="Provider copy, PDF").click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.suffix == ".pdf" and saved.read_bytes().startswith(b"%PDF-")
    from pypdf import PdfReader

    assert len(PdfReader(saved).pages) >= 2
    finish(tour, new_page)


# ---- 3. Member --------------------------------------------------------------------------


def member_world(live_server):
    """What the provider journey leaves behind, made with the services."""
    tz, first_start = daytime_zone()
    provider = live_server.add_user("provider", name="Dr. Jordan Ellis")
    ada = live_server.add_user("member", name="Ada Okafor", timezone=tz)
    ben = live_server.add_user("member", name="Ben Castillo", timezone=tz)
    group = group_service.create_group(
        provider,
        {
            "name": "Adult ADHD skills group",
            "focus": "adhd",
            "description": "",
            "capacity": 2,
            "format": "closed",
            "location": "Room 4, 2nd floor",
            "timezone": tz,
            "status": "active",
        },
        [],
        by=provider,
    )
    sessions = schedule_service.create_schedule(
        group,
        start_date=first_start.date(),
        weekday=first_start.weekday(),
        start_time=first_start.time(),
        duration_minutes=90,
        session_count=10,
        by=provider,
    )
    for member in (ada, ben):
        enrollment_service.enroll(group, member, by=provider)
    with live_server.app.app_context():  # the cancellation notice is queued with the app's config
        schedule_service.cancel_session(sessions[1], CANCEL_REASON, by=provider)
    begin_now(sessions[0])
    sessions[0] = Session.get_by_id(sessions[0].id)
    entries = attendance_service.roster(sessions[0])
    attendance_service.save_roster(
        sessions[0],
        {ada.id: "present", ben.id: "absent"},
        {},
        attendance_service.version_token(entries),
        by=provider,
    )
    packet_session = Session.get_by_id(sessions[2].id)
    slug = next(h.slug for h in handout_service.library() if h.slug.startswith("adhd-01"))
    handout_service.save_packet(
        packet_session, [slug, "what-to-expect-in-group"], False, by=provider
    )
    return group, ada, ben, sessions


def test_member_follows_their_group_on_a_phone(live_server, new_page, tmp_path):
    from playwright.sync_api import expect

    url = live_server.url
    dress_for_docs(live_server)
    group, ada, ben, sessions = member_world(live_server)
    page = new_page(PHONE)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=url)
    page.on("dialog", lambda dialog: dialog.accept())
    tour = Tour(page, tmp_path, "member")
    log_in(page, url, ben, tour)
    expect(page).to_have_url(url + "/schedule")

    # The cancelled session, marked, with its reason.
    cancelled = page.locator("li.session.is-cancelled")
    expect(cancelled).to_have_count(1)
    expect(cancelled).to_contain_text("Cancelled")
    expect(cancelled).to_contain_text(CANCEL_REASON)
    expect(page.locator("main")).not_to_contain_text(ada.name)
    tour.visit("schedule", doc="member-phone.png")

    # Their own copy of the next session's packet.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Handouts (PDF)").first.click()
    packet = tmp_path / "member-packet.pdf"
    download_info.value.save_as(packet)
    assert packet.read_bytes().startswith(b"%PDF-")

    # The session page of the cancelled session.
    cancelled.get_by_role("link").first.click()
    expect(page.locator("main")).to_contain_text(CANCEL_REASON)
    tour.visit("cancelled session")

    # Progress: module 1 missed, with its handout to catch up.
    main_menu(page).get_by_role("link", name="My progress").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My progress")
    catch_ups = page.locator("ul.catch-ups li")
    expect(catch_ups).to_have_count(1)
    expect(catch_ups.first).to_contain_text("Understanding adult ADHD")
    expect(page.locator("main")).to_contain_text("Absent")
    tour.visit("progress")
    with page.expect_download() as download_info:
        catch_ups.first.get_by_role("link").first.click()
    catch_up = tmp_path / "catch-up.pdf"
    download_info.value.save_as(catch_up)
    assert catch_up.read_bytes().startswith(b"%PDF-")

    # The private calendar link: created, copied, working; then rotated.
    main_menu(page).get_by_role("link", name="Calendar link").click()
    tour.visit("calendar link none")
    page.get_by_role("button", name="Create my calendar link").click()
    address = page.get_by_label("Web address (Google, Outlook, or paste anywhere)")
    first_link = address.input_value()
    assert first_link.startswith(url + "/feed/") and first_link.endswith(".ics")
    tour.visit("calendar link new")
    page.get_by_role("button", name="Copy").first.click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == first_link
    feed = page.request.get(first_link)
    assert feed.status == 200 and CANCEL_REASON in feed.text()

    main_menu(page).get_by_role("link", name="Calendar link").click()
    tour.visit("calendar link existing")
    page.get_by_role("button", name="Create a new link").click()
    expect(page.locator("main")).to_contain_text("Your previous link has stopped working.")
    second_link = address.input_value()
    assert second_link != first_link
    tour.visit("calendar link rotated")
    assert page.request.get(first_link).status == 404
    assert page.request.get(second_link).status == 200
    finish(tour, new_page)


def test_staff_pages_read_well_on_a_phone(live_server, new_page, tmp_path):
    """Tables turn into cards at 375 px: the group, board, session and people pages."""
    from playwright.sync_api import expect

    url = live_server.url
    group, ada, ben, sessions = member_world(live_server)
    provider = group.lead
    page = new_page(PHONE)
    tour = Tour(page, tmp_path, "staff-phone")
    log_in(page, url, provider)
    expect(page).to_have_url(url + "/home")
    tour.visit("today")
    page.goto(f"{url}/groups/{group.id}")
    expect(page.locator("#sessions tbody tr").nth(1)).to_contain_text(CANCEL_REASON)
    tour.visit("group")
    page.goto(f"{url}/groups/{group.id}/pacing")
    tour.visit("pacing board")
    page.goto(f"{url}/sessions/{sessions[0].id}/attendance")
    tour.visit("attendance")
    page.goto(f"{url}/sessions/{sessions[2].id}")
    tour.visit("session")
    page.goto(f"{url}/groups/{group.id}/members/{ben.id}")
    tour.visit("member record")
    main_menu(page).get_by_role("button", name="Log out").click()

    admin = live_server.add_user("admin", name="Avery Admin")
    log_in(page, url, admin)
    main_menu(page).get_by_role("link", name="People", exact=True).click()
    tour.visit("people")
    main_menu(page).get_by_role("link", name="Audit log").click()
    tour.visit("audit log")
    finish(tour, new_page)


# ---- 4. Security in the browser -------------------------------------------------------------


def test_back_button_after_logout_shows_no_member_data(live_server, new_page, tmp_path):
    from playwright.sync_api import expect

    url = live_server.url
    group, ada, ben, sessions = member_world(live_server)
    page = new_page(PHONE)
    tour = Tour(page, tmp_path, "security")
    log_in(page, url, ada)
    main_menu(page).get_by_role("link", name="My progress").click()
    expect(page.locator("main")).to_contain_text(group.name)
    response = page.request.get(url + "/progress")
    assert response.headers["cache-control"] == "no-store"

    main_menu(page).get_by_role("button", name="Log out").click()
    expect(page).to_have_url(url + "/login")
    page.go_back()
    # no-store: the browser asks again instead of showing a kept copy, and the
    # server sends it to the login form.
    expect(page).to_have_url(re.compile(re.escape(url) + r"/login\?next=.*progress"))
    for private in (group.name, ada.name, "Understanding adult ADHD"):
        assert private not in page.content()
    tour.visit("back after logout")
    finish(tour, new_page)


def test_idle_timeout_returns_to_login(live_server, new_page, tmp_path):
    from playwright.sync_api import expect

    url = live_server.url
    live_server.app.config["IDLE_TIMEOUT"] = datetime.timedelta(seconds=2)
    member = live_server.add_user("member", name="Idle Member")
    page = new_page(DESKTOP)
    tour = Tour(page, tmp_path, "idle")
    log_in(page, url, member)
    expect(page).to_have_url(url + "/schedule")
    time.sleep(2.5)
    main_menu(page).get_by_role("link", name="My progress").click()
    expect(page).to_have_url(url + "/login")
    expect(page.get_by_role("status")).to_contain_text("logged out after a period of inactivity")
    tour.visit("idle logout")
    # The next login starts afresh.
    page.get_by_label("Email").fill(member.email)
    page.get_by_label("Password").fill(BROWSER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(url + "/schedule")
    finish(tour, new_page)


# ---- Keyboard alone ------------------------------------------------------------------------


FOCUSED = """(() => {
  const e = document.activeElement, s = getComputedStyle(e), box = e.getBoundingClientRect();
  return {id: e.id, text: e.textContent.trim(),
          outline: s.outlineStyle === "none" ? 0 : parseFloat(s.outlineWidth),
          onScreen: box.left >= 0 && box.top >= 0 && box.width > 0};
})()"""


def test_login_and_navigation_by_keyboard_alone_with_visible_focus(live_server, new_page):
    from playwright.sync_api import expect

    url = live_server.url
    member = live_server.add_user("member")
    page = new_page(DESKTOP)
    page.goto(url + "/login")
    # The email field has the focus on arrival, visibly (an outline of 2 px or more).
    focused = page.evaluate(FOCUSED)
    assert focused["id"] == "email" and focused["outline"] >= 2, focused
    page.keyboard.type(member.email)
    page.keyboard.press("Tab")
    focused = page.evaluate(FOCUSED)
    assert focused["id"] == "password" and focused["outline"] >= 2, focused
    page.keyboard.type(BROWSER_PASSWORD)
    page.keyboard.press("Tab")
    focused = page.evaluate(FOCUSED)
    assert focused["text"] == "Log in" and focused["outline"] >= 2, focused
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")  # submits from the password field
    expect(page).to_have_url(url + "/schedule")

    # The first Tab shows the skip link; Enter on it moves the focus past the navigation.
    page.keyboard.press("Tab")
    focused = page.evaluate(FOCUSED)
    assert focused["text"] == "Skip to content", focused
    assert focused["onScreen"] and focused["outline"] >= 2, focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Every link and button in the navigation shows its focus too.
    page.locator("nav a").first.focus()
    for _ in range(page.locator("nav a, nav button").count()):
        focused = page.evaluate(FOCUSED)
        assert focused["outline"] >= 2, focused
        page.keyboard.press("Tab")
    assert new_page.errors == []
