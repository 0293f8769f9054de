"""Every page of the app, as the role that uses it, at 1280 px and at 375 px.

The list of pages comes from ``app.url_map``: every endpoint that answers GET
must be visited here (with ids from the data built below) or be named in
``NOT_HTML`` (PDFs, CSV, calendar feeds, the health check, redirects). A new
page therefore fails this test until someone looks at it.

Each page is checked at both widths: axe-core finds no serious or critical
violation, there is exactly one ``h1``, nothing is wider than the screen, and
every visible input, select and textarea has an accessible name. At 1280 px
every focusable element shows a visible focus indicator when reached by
keyboard. Screenshots (full page) go into ``tmp_path`` (or ``A11Y_SHOTS`` when
set) for a person to read.

Besides the pages themselves: POST results people see (set-password links
after creating an account, the calendar link once made), error pages (403,
404, 400 for an expired form, 429 throttled login, 503 busy database) and
empty states (a provider without groups, a member without groups).
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from peewee import OperationalError
from werkzeug.exceptions import MethodNotAllowed

import groups.clock
from groups import mail, two_factor
from groups.clock import utcnow
from groups.db import database
from groups.models import LoginAttempt, Module, OutboxMessage, Session
from groups.services import accounts, notes, outcomes, overview
from groups.services import attendance as attendance_service
from groups.services import handouts as handout_service
from groups.services import schedule as schedule_service
from tests.world import enroll_all, new_group, weekly

from .conftest import BROWSER_PASSWORD, DESKTOP, PHONE, log_in
from .tour import BLOCKING, describe

pytestmark = pytest.mark.browser

# GET endpoints that are not HTML pages for people (or only redirect).
NOT_HTML = {
    "static": "stylesheet and script",
    "main.healthz": "plain-text health check",
    "main.index": "redirects to the role's home page",
    "calendars.feed": "text/calendar feed",
    "calendars.feed_other": "plain-text 404 of the feed",
    "attendance.export_csv": "CSV download",
    "admin.audit_csv": "CSV download of the audit log",
    "handouts.download": "PDF download",
    "handouts.member_handout": "PDF download",
    "handouts.member_packet": "PDF download",
    "sessions.packet_pdf": "PDF download",
    "sessions.member_copies": "PDF download",
    "clinical.print_note": "PDF download",
    "outbox.preview": "a message's HTML, framed inside its Outbox page (visited there)",
    "outcomes.group_export": "CSV or FHIR download (its refusal page is visited)",
    "outcomes.practice_export": "CSV or FHIR download (same refusal page as the group's)",
}

GROUP_TZ = "America/New_York"
CANCEL_REASON = "Facilitator unwell: we pick up next week"

# Two animation frames: the page has laid out and painted at its new width.
NEXT_FRAME = "new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"

LABELLESS_FIELDS = """() => {
  const bad = [];
  const text = id => document.getElementById(id)?.textContent || "";
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (["hidden", "submit", "button", "reset", "image"].includes(el.type)) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (getComputedStyle(el).visibility === "hidden") continue;
    let name = "";
    const ids = el.getAttribute("aria-labelledby");
    if (ids) name = ids.split(/\\s+/).map(text).join(" ");
    if (!name.trim()) name = el.getAttribute("aria-label") || "";
    if (!name.trim() && el.labels) name = Array.from(el.labels, l => l.textContent).join(" ");
    if (!name.trim()) bad.push(el.outerHTML.slice(0, 120));
  }
  return bad;
}"""

# Focus each focusable element (after a Tab, so the browser is in keyboard
# mode and :focus-visible applies) and compare its look with the unfocused one.
UNFOCUSABLE_LOOK = """() => {
  const selector = "a[href], button, input:not([type=hidden]), select, textarea, summary, "
    + "[tabindex]:not([tabindex='-1'])";
  const look = node => {
    const s = getComputedStyle(node);
    return [s.outlineStyle, s.outlineWidth, s.outlineColor, s.boxShadow].join("|");
  };
  const ring = node => {
    const s = getComputedStyle(node);
    return (s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2)
      || s.boxShadow !== "none";
  };
  const bad = [];
  for (const el of document.querySelectorAll(selector)) {
    if (el.disabled) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (getComputedStyle(el).visibility === "hidden") continue;
    // A visually hidden radio or checkbox shows its focus on its label.
    const tiny = box.width <= 2 || box.height <= 2;
    const label = el.closest("label") || (el.id && document.querySelector(`label[for="${el.id}"]`));
    const shower = tiny && label ? label : el;
    if (document.activeElement === el) el.blur();
    const before = look(shower);
    el.focus();
    if (document.activeElement !== el) continue;
    if (!(ring(shower) && look(shower) !== before)) bad.push(el.outerHTML.slice(0, 100));
  }
  return bad;
}"""


@dataclass
class Visit:
    role: str
    label: str
    url: str  # opened first; the page checked is where ``then`` leads, if given
    status: int = 200
    then: Callable | None = None  # what the user does after opening ``url``
    during: Callable = contextlib.nullcontext  # a context manager around the visit (503)
    shows: str = ""  # text the page's main area must hold


@dataclass
class Checker:
    directory: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    count: int = 0
    axe_script: str = ""

    def axe(self, page) -> list[dict]:
        if not self.axe_script:
            from axe_playwright_python.sync_playwright import Axe

            self.axe_script = Axe().axe_script
        if not page.evaluate("typeof window.axe !== 'undefined'"):
            page.evaluate(self.axe_script)
        return page.evaluate("axe.run({resultTypes: ['violations']})")["violations"]

    def check(self, page, role: str, label: str) -> None:
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", f"{role} {label}".lower()).strip("-")
        where = f"{role} / {label} ({page.url.split('/', 3)[-1]})"
        # Screenshots first, a frame after each resize: a capture straight after a
        # resize, or after axe (which scrolls scroll containers to check contrast),
        # can show a sideways-scrolling table without its cells.
        for viewport in (DESKTOP, PHONE):
            width = viewport["width"]
            page.set_viewport_size(viewport)
            page.evaluate(NEXT_FRAME)
            shot = self.directory / f"{self.count:03d}-{slug}-{width}.png"
            page.screenshot(path=shot, full_page=True)
        for viewport in (PHONE, DESKTOP):
            width = viewport["width"]
            page.set_viewport_size(viewport)
            for violation in self.axe(page):
                line = f"{where} @{width}: {describe(violation)}"
                (self.problems if violation["impact"] in BLOCKING else self.notes).append(line)
            if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
                self.problems.append(f"{where} @{width}: wider than the screen")
            for bad in page.evaluate(LABELLESS_FIELDS):
                self.problems.append(f"{where} @{width}: field without a label: {bad}")
        h1s = page.locator("h1").count()
        if h1s != 1:
            self.problems.append(f"{where}: {h1s} h1 elements, expected one")
        page.keyboard.press("Tab")  # keyboard mode: focus rings as a keyboard user sees them
        for bad in page.evaluate(UNFOCUSABLE_LOOK):
            self.problems.append(f"{where}: no visible focus on {bad}")


@dataclass
class World:
    admin: object
    provider: object
    lonely_provider: object
    member: object
    lonely_member: object
    group: object
    draft: object
    sessions: list
    held: object
    packet_session: object
    cancelled: object
    waitlisted: object
    enrollment: object
    module: object
    handout_slug: str
    link_token: str
    throttled_email: str
    two_step: object
    alert: object


def build_world(live_server, monkeypatch) -> World:
    """A group that started two weeks ago (built with the clock moved back), a draft group,
    held sessions with attendance and a note, a cancelled session, a packet, a waitlist."""
    add = live_server.add_user
    admin = add("admin", name="Avery Admin")
    provider = add("provider", name="Dr. Jordan Ellis-Whitfield")
    lonely_provider = add("provider", name="Dr. Sam New")
    ada = add("member", name="Ada Okafor", timezone="Europe/London")
    ben = add("member", name="Ben Castillo", timezone="America/Chicago")
    chloe = add("member", name="Chloé Martin-Lefebvre-Vandermeersch")
    dev = add("member", name="Dev Raman")
    lonely_member = add("member", name="Noor Haddad")
    two_step = add("member", name="Tess Two-Step")
    accounts.begin_two_factor(two_step)
    accounts.confirm_two_factor(two_step, two_factor.code_at(two_step.totp_secret, utcnow()))

    now = datetime.datetime.now(datetime.UTC)
    today = now.astimezone(zoneinfo.ZoneInfo(GROUP_TZ)).date()
    monkeypatch.setattr(groups.clock, "frozen_at", now - datetime.timedelta(days=20))
    group = new_group(
        provider,
        name="Evening anxiety skills group for adults",
        capacity=3,
        format="open",  # a started closed group offers no enroll form to check
        timezone=GROUP_TZ,
        description="Practical skills for worry and panic, one module a week.",
    )
    sessions = weekly(group, today - datetime.timedelta(days=14), count=8)
    enrolled = enroll_all(group, [ada, ben, chloe, dev])
    # The first two sessions were held: Ben missed the second (a catch-up item).
    for n, statuses in enumerate([{}, {ben.id: "absent"}]):
        session = sessions[n]
        groups.clock.frozen_at = session.starts_at + datetime.timedelta(minutes=20)
        entries = attendance_service.roster(session)
        marks = {e.member.id: statuses.get(e.member.id, "present") for e in entries}
        attendance_service.save_roster(
            session, marks, {}, attendance_service.version_token(entries), by=provider
        )
    notes.save_note(sessions[1], "Ben seemed tired; check in next week.", "", by=provider)
    groups.clock.frozen_at = None
    with live_server.app.app_context():  # the cancellation notice is queued with the app's config
        schedule_service.cancel_session(sessions[4], CANCEL_REASON, by=provider)
    slugs = [h.slug for h in handout_service.library()]
    handout_service.save_packet(sessions[3], slugs[:2], False, by=provider)
    draft = new_group(provider, name="Spring depression group", focus="depression", status="draft")
    with live_server.app.app_context(), database.atomic():
        mail.queue(
            "test", to=ben, key="a11y", subject="Test message", context={"destination": "here"}
        )
    # Check-ins open a week ahead, so one is open whatever the time of day; Ada's
    # answers raise a safety alert for the staff pages' banners.
    live_server.app.config["CHECKIN_OPENS_HOURS"] = 24 * 8
    with live_server.app.app_context():
        outcomes.save_plan(group, ["phq9", "gad7"], "every_session", True, by=provider)
        answers = {"phq9": [1, 1, 0, 0, 1, 0, 0, 0, 1], "gad7": [1, 1, 1, 0, 0, 0, 0]}
        (alert,) = outcomes.submit_checkin(ada, answers).alerts
    throttled = "locked.out@example.org"
    for _ in range(accounts.MAX_FAILURES_PER_ACCOUNT):
        LoginAttempt.create(email=throttled, ip="203.0.113.9", succeeded=False)
    return World(
        admin=admin,
        provider=provider,
        lonely_provider=lonely_provider,
        member=ben,
        lonely_member=lonely_member,
        group=group,
        draft=draft,
        sessions=sessions,
        held=Session.get_by_id(sessions[1].id),
        packet_session=Session.get_by_id(sessions[3].id),
        cancelled=Session.get_by_id(sessions[4].id),
        waitlisted=dev,
        enrollment=enrolled[0],
        module=Module.select().where(Module.group == group).order_by(Module.position).first(),
        handout_slug=slugs[0],
        link_token=accounts.issue_password_link(lonely_member, issued_by=admin),
        throttled_email=throttled,
        two_step=two_step,
        alert=alert,
    )


# ---- what the user does on some pages -------------------------------------------------


def submit_new_account(name: str, email: str, role: str | None = None):
    def act(page):
        page.locator("input[name=name]").fill(name)
        page.locator("input[name=email]").fill(email)
        if role:
            page.locator("select[name=role]").select_option(role)
        page.locator("form:has(input[name=email]) [type=submit]").click()

    return act


def press(name: str):
    def act(page):
        page.get_by_role("button", name=name).click()

    return act


def add_closure(day: datetime.date):
    def act(page):
        page.get_by_label("Date").fill(day.isoformat())
        page.get_by_label("Reason (e.g. holiday)").fill("Staff training day")
        page.get_by_role("button", name="Add closure").click()

    return act


def check_in_with_item_9(page):
    """Every item answered "Not at all", but the PHQ-9's item 9: the crisis card follows."""
    for item in page.locator("fieldset.measure-item").all():
        item.get_by_label("Not at all").check()
    page.locator("#phq9-9").get_by_label("Several days").check()
    page.get_by_role("button", name="Send my answers").click()


def expired_form(page):
    """A login form whose CSRF token no longer matches: the 400 page."""
    page.locator("input[name=csrf_token]").evaluate("e => e.value = 'expired'")
    page.get_by_label("Email").fill("someone@example.org")
    page.get_by_label("Password").fill("whatever it was")
    page.get_by_role("button", name="Log in").click()


def throttled_login(email: str):
    def act(page):
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill("one more guess")
        page.get_by_role("button", name="Log in").click()

    return act


def password_step(email: str):
    def act(page):
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(BROWSER_PASSWORD)
        page.get_by_role("button", name="Log in").click()

    return act


@contextlib.contextmanager
def busy_database():
    """The database stays locked past its busy timeout: the 503 page."""

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    with pytest.MonkeyPatch.context() as m:
        m.setattr(overview, "todays_sessions", locked)
        yield


def visits(w: World) -> list[Visit]:
    g, d, s = w.group.id, w.draft.id, w.sessions
    held, packet, cancelled = w.held.id, w.packet_session.id, w.cancelled.id
    today = datetime.date.today()
    month_ago = today - datetime.timedelta(days=30)
    return [
        # Anonymous.
        Visit("anonymous", "login", "/login"),
        Visit("anonymous", "forgot password", "/forgot-password"),
        Visit("anonymous", "set password", f"/set-password/{w.link_token}"),
        Visit("anonymous", "set-password link invalid", "/set-password/not-a-real-link", 404),
        Visit("anonymous", "expired form", "/login", 400, expired_form, shows="Go to log in"),
        Visit(
            "anonymous",
            "throttled login",
            "/login",
            429,
            throttled_login(w.throttled_email),
            shows="Too many failed attempts",
        ),
        Visit(
            "anonymous",
            "login code step",
            "/login",
            then=password_step(w.two_step.email),
            shows="Enter your code",
        ),
        # Admin.
        Visit("admin", "home", "/admin/"),
        Visit("admin", "people", "/admin/users"),
        Visit("admin", "people filtered", "/admin/users?role=member&q=Chlo"),
        Visit("admin", "add a person", "/admin/users/new"),
        Visit(
            "admin",
            "set-password link of a new provider",
            "/admin/users/new",
            then=submit_new_account("Dr. Priya Raman", "priya.raman@example.org", "provider"),
            shows="Set-password link for Dr. Priya Raman",
        ),
        Visit("admin", "edit a person", f"/admin/users/{w.member.id}"),
        Visit("admin", "closures empty", "/admin/closures"),
        Visit(
            "admin",
            "closures",
            "/admin/closures",
            then=add_closure(today + datetime.timedelta(days=60)),
        ),
        Visit("admin", "audit log", "/admin/audit"),
        Visit("admin", "profile", "/account/"),
        Visit("admin", "two-factor off", "/account/two-factor"),
        Visit("admin", "edit a person with two-factor on", f"/admin/users/{w.two_step.id}"),
        Visit("admin", "outbox", "/admin/outbox/"),
        Visit("admin", "outbox message", f"/admin/outbox/{OutboxMessage.get().id}"),
        Visit(
            "admin",
            "audit log filtered",
            f"/admin/audit?who=ellis&action=attendance_changed&from={month_ago}&to={today}",
        ),
        Visit(
            "admin",
            "audit log bad dates",
            "/admin/audit?from=yesterday&to=2026-13-01",
            status=422,
            shows="Correct the dates above to see the entries.",
        ),
        Visit("admin", "all groups", "/groups/"),
        Visit("admin", "group", f"/groups/{g}"),
        Visit("admin", "edit group (lead chosen)", f"/groups/{g}/edit"),
        Visit("admin", "calendar export", "/calendars/export"),
        Visit(
            "admin",
            "calendar export with errors",
            f"/calendars/export?what=practice&start={today}&end={month_ago}",
            422,
        ),
        Visit("admin", "member's page is not for admins", "/schedule", 403),
        Visit("admin", "clinical notes, read only", f"/sessions/{held}/notes"),
        Visit("admin", "notes due", "/admin/notes-due"),
        Visit("admin", "charges export", "/admin/charges"),
        Visit("admin", "safety alerts", "/alerts"),
        Visit("admin", "safety alert", f"/alerts/{w.alert.id}"),
        Visit("admin", "practice outcomes", "/outcomes"),
        Visit(
            "admin", "practice outcomes bad period", f"/outcomes?from={today}&to={month_ago}", 422
        ),
        # Provider.
        Visit("provider", "today", "/home"),
        Visit("provider", "change password", "/account/password"),
        Visit(
            "provider",
            "two-factor set-up",
            "/account/two-factor",
            then=press("Set up two-factor sign-in"),
            shows="Enter the code the app shows",
        ),
        Visit("provider", "busy database", "/home", 503, during=busy_database, shows="busy"),
        Visit("provider", "my groups", "/groups/"),
        Visit("provider", "new group", "/groups/new"),
        Visit("provider", "group", f"/groups/{g}"),
        Visit(
            "provider",
            "draft group without sessions or members",
            f"/groups/{d}",
            shows="No sessions yet: set the schedule.",
        ),
        Visit("provider", "edit group", f"/groups/{d}/edit"),
        Visit("provider", "schedule form", f"/groups/{d}/schedule"),
        Visit("provider", "schedule form of a scheduled group", f"/groups/{g}/schedule"),
        Visit("provider", "make-up session", f"/groups/{g}/makeup"),
        Visit("provider", "curriculum", f"/groups/{g}/curriculum"),
        Visit("provider", "rename module", f"/groups/{g}/curriculum/{w.module.id}"),
        Visit("provider", "withdraw", f"/groups/{g}/enrollments/{w.enrollment.id}/withdraw"),
        Visit("provider", "member record", f"/groups/{g}/members/{w.member.id}"),
        Visit("provider", "waitlisted member record", f"/groups/{g}/members/{w.waitlisted.id}"),
        Visit("provider", "held session", f"/sessions/{held}"),
        Visit("provider", "session with packet", f"/sessions/{packet}"),
        Visit(
            "provider",
            "cancelled session",
            f"/sessions/{cancelled}",
            shows="This session was cancelled, so it needs no handouts.",
        ),
        Visit("provider", "cancel session", f"/sessions/{s[5].id}/cancel"),
        Visit("provider", "reschedule session", f"/sessions/{s[5].id}/reschedule"),
        Visit("provider", "attendance", f"/sessions/{held}/attendance"),
        Visit("provider", "attendance not yet", f"/sessions/{s[6].id}/attendance"),
        Visit("provider", "private note", f"/sessions/{held}/note"),
        Visit("provider", "clinical notes", f"/sessions/{held}/notes"),
        Visit("provider", "diagnoses", f"/groups/{g}/enrollments/{w.enrollment.id}/diagnoses"),
        Visit("provider", "empty private note", f"/sessions/{packet}/note"),
        Visit("provider", "pacing board", f"/groups/{g}/pacing"),
        Visit("provider", "safety alerts, all", "/alerts?status=all"),
        Visit(
            "provider",
            "safety alert acknowledged",
            f"/alerts/{w.alert.id}",
            then=press("Acknowledge"),
            shows="What was done",
        ),
        Visit(
            "provider",
            "safety alert resolved without a note",
            f"/alerts/{w.alert.id}",
            422,
            then=press("Resolve"),
            shows="Write what was done",
        ),
        Visit("provider", "paper answers", f"/sessions/{held}/measures"),
        Visit("provider", "paper answers form", f"/sessions/{held}/measures/phq9"),
        Visit(
            "provider",
            "paper answers refused",
            f"/sessions/{held}/measures/phq9",
            422,
            then=press("Save the paper answers"),
            shows="Nothing was saved",
        ),
        Visit("provider", "group outcomes", f"/groups/{g}/outcomes"),
        Visit("provider", "scores by day", f"/groups/{g}/outcomes/scores"),
        Visit("provider", "measure plan", f"/groups/{g}/outcomes/plan"),
        Visit(
            "provider",
            "outcomes download refused",
            f"/groups/{g}/outcomes/export?format=csv&from={today}&to={month_ago}",
            422,
        ),
        Visit("provider", "handout library", "/handouts/"),
        Visit("provider", "handout preview", f"/handouts/{w.handout_slug}"),
        Visit("provider", "session packet", f"/handouts/sessions/{packet}/packet"),
        Visit("provider", "calendar export", "/calendars/export"),
        Visit("provider", "calendar link none", "/calendar"),
        Visit("provider", "another provider's group", "/groups/999999", 404),
        Visit("provider", "admin page", "/admin/", 403),
        Visit("provider", "new member account", f"/groups/{g}/members/new"),
        Visit(
            "provider",
            "set-password link of a new member",
            f"/groups/{g}/members/new",
            then=submit_new_account("Eli Brooks-Montgomery", "eli.brooks@example.org"),
            shows="Set-password link for Eli Brooks-Montgomery",
        ),
        # Member.
        Visit("member", "schedule", "/schedule"),
        Visit("member", "profile", "/account/"),
        Visit("member", "check-in", "/check-in"),
        Visit(
            "member",
            "check-in refused",
            "/check-in",
            422,
            then=press("Send my answers"),
            shows="Nothing was saved",
        ),
        Visit(
            "member",
            "check-in sent, crisis card",
            "/check-in",
            then=check_in_with_item_9,
            shows="If you are thinking about hurting yourself",
        ),
        Visit("member", "a safety alert", f"/alerts/{w.alert.id}", 404),
        Visit("member", "progress with scores", "/progress", shows="My check-in scores"),
        Visit("member", "upcoming session", f"/sessions/{packet}"),
        Visit("member", "cancelled session", f"/sessions/{cancelled}"),
        Visit("member", "calendar link none", "/calendar"),
        Visit(
            "member",
            "calendar link new",
            "/calendar",
            then=press("Create my calendar link"),
            shows="Your new calendar link",
        ),
        Visit("member", "calendar link existing", "/calendar"),
        Visit("member", "staff page", "/home", 403),
        Visit("member", "someone else's session", "/sessions/999999", 404),
        # Empty states.
        Visit("lonely_provider", "today, no groups", "/home"),
        Visit("lonely_provider", "my groups, none", "/groups/"),
        Visit("lonely_provider", "calendar export, no groups", "/calendars/export"),
        Visit("lonely_member", "schedule, no groups", "/schedule"),
        Visit("lonely_member", "progress, no groups", "/progress"),
        Visit("lonely_member", "check-in, none open", "/check-in", shows="no check-in to answer"),
    ]


def test_every_page_is_accessible_at_desktop_and_phone_width(
    live_server, browser, tmp_path, monkeypatch
):
    from playwright.sync_api import expect

    app, url = live_server.app, live_server.url
    world = build_world(live_server, monkeypatch)
    directory = Path(os.environ.get("A11Y_SHOTS") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    checker = Checker(directory)
    users = {
        "admin": world.admin,
        "provider": world.provider,
        "member": world.member,
        "lonely_provider": world.lonely_provider,
        "lonely_member": world.lonely_member,
    }
    errors: list[str] = []
    pages: dict[str, object] = {}
    status: dict[str, int] = {}

    def page_for(role: str):
        if role in pages:
            return pages[role]
        context = browser.new_context(viewport=DESKTOP)
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(f"{role}: page error: {e}"))

        def console(message):
            # Failed loads are reported with their URL by response().
            if message.type == "error" and not message.text.startswith("Failed to load"):
                errors.append(f"{role}: console: {message.text}")

        def response(r):
            if r.request.is_navigation_request() and r.frame == page.main_frame:
                status[role] = r.status
            elif r.status >= 400 and not r.url.endswith("/favicon.ico"):
                errors.append(f"{role}: {r.status} {r.url}")

        page.on("console", console)
        page.on("response", response)
        if role in users:
            log_in(page, url, users[role])
            expect(page.locator("h1")).to_be_visible()
            assert "/login" not in page.url, f"{role} could not log in"
        pages[role] = page
        return page

    adapter = app.url_map.bind("127.0.0.1")
    seen: set[str] = set()
    wrong: list[str] = []
    for visit in visits(world):
        page = page_for(visit.role)
        with visit.during():
            page.goto(url + visit.url)
            if visit.then:
                visit.then(page)
            page.wait_for_load_state("load")
        if visit.shows and visit.shows not in page.locator("main").inner_text():
            wrong.append(f"{visit.role} / {visit.label}: no “{visit.shows}” at {page.url}")
        if status.get(visit.role) != visit.status:
            wrong.append(f"{visit.role} / {visit.label}: {status.get(visit.role)} at {page.url}")
        path = page.url[len(url) :].split("#")[0].split("?")[0]
        try:
            endpoint, _ = adapter.match(path, method="GET")
        except MethodNotAllowed:  # the page a POST answered with
            endpoint, _ = adapter.match(path, method="POST")
        if visit.status == 200:
            seen.add(endpoint)
        checker.check(page, visit.role, visit.label)

    for page in pages.values():
        page.context.close()
    (directory / "axe-notes.txt").write_text("\n".join(checker.notes) + "\n")

    get_endpoints = {
        rule.endpoint for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ())
    }
    missing = sorted(get_endpoints - seen - set(NOT_HTML))
    stale = sorted(set(NOT_HTML) - get_endpoints)
    failures = (
        [f"GET page not visited: {e}" for e in missing]
        + [f"NOT_HTML names an endpoint that no longer exists: {e}" for e in stale]
        + wrong
        + checker.problems
        + errors
    )
    assert failures == [], "\n".join(failures)
