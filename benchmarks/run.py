"""`make bench`: the app's main requests over real HTTP, each next to its floor.

1. Builds ``demo-data --scale large`` in a temporary SQLite database (through
   the CLI, as an operator would), then picks what to measure from it: a
   member's schedule, a provider's group with 12 members and 20+ sessions, a
   past session's 12-member roster, the practice's calendar for one year, a
   member's feed, a module handout and a session packet; and adds a group of
   24 members whose next session has a packet of 10 handouts, and a group of
   12 members with 30 sessions of GAD-7 answers for its Outcomes page.
2. Starts gunicorn (sync workers, APP_ENV=production) on 127.0.0.1, logs in
   through the real login form, warms up, and times several hundred requests
   of each kind with one keep-alive client: the cold ones kind by kind, the
   rest in interleaved rounds (every kind once per round, shuffled), so the
   pages and their floor see the same machine.
3. Stops gunicorn, then measures the floors in this process: WeasyPrint
   rendering the same HTML directly, and icalendar building the same events
   from scratch with the caches cleared.
4. Prints the table and writes ``benchmarks/results.json``.

Cold measurements force the slow path before every sample, outside the
timed part: ``ics_year_cold`` replaces every gunicorn worker with a freshly
started one (SIGHUP, then /healthz until only new workers answer), so each
sample is a new worker's first calendar, as after ``--max-requests``
recycles a worker; ``handout_cold`` and ``member_copies`` (a provider's "one copy per member"
for the 24 members) empty the PDF cache.

"CPU ms" is the server's CPU time per request (gunicorn's master and
workers, user + system, from /proc; the bench process's own for the floors):
unlike latency it hardly moves when other work shares the machine.

Ratios are p95 over the floor's p95: ``healthz`` for pages and the attendance
save, ``ics_floor`` for the year calendar, the same member's events built
from scratch for the member feed, ``pdf_floor`` for the handout and the
packet's own HTML rendered directly for the packet. ``member_copies`` has its
goal on p50: under 30x the ``pdf_floor`` p50.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import diskcache

if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import (  # noqa: E402
    DEMO_PASSWORD,
    Client,
    Response,
    Server,
    app_environment,
    flask_cli,
    summarise,
)

RESULTS = Path(__file__).resolve().parent / "results.json"

# name, floor it is compared with, goal (for the table: what "good" means)
ROWS = [
    ("healthz", None, "floor for pages"),
    ("member_schedule", "healthz", "p95 < 25 ms and < 5x healthz"),
    ("group_page", "healthz", "p95 < 25 ms and < 5x healthz"),
    ("attendance_save", "healthz", "p95 < 40 ms"),
    ("notes_page", "healthz", "p95 < 5x healthz"),
    ("ics_year_cold", "ics_floor", "< 10% of ics_floor"),
    ("ics_year_warm", "ics_floor", "< 10% of ics_floor"),
    ("ics_year_304", "ics_floor", "p95 < 5 ms"),
    ("member_feed", "member_feed_floor", ""),
    ("handout_cold", "pdf_floor", "< 1.2x pdf_floor"),
    ("handout_warm", "pdf_floor", "p95 < 10 ms"),
    ("packet", "packet_floor", ""),
    ("member_copies", "pdf_floor", "p50 < 30x pdf_floor p50"),
    ("outcomes_page", "healthz", "p95 < 5x healthz"),
    ("pdf_floor", None, "WeasyPrint, same HTML, in-process"),
    ("packet_floor", None, "WeasyPrint, packet HTML, in-process"),
    ("ics_floor", None, "icalendar, same events, caches cleared"),
    ("member_feed_floor", None, "icalendar, member's events, caches cleared"),
]


class BenchError(RuntimeError):
    pass


def expect(response: Response, status: int, what: str) -> float:
    if response.status != status:
        raise BenchError(
            f"{what}: expected HTTP {status}, got {response.status}: {response.text[:300]!r}"
        )
    return response.seconds


# --- choosing what to measure ------------------------------------------------------


@dataclass
class Targets:
    member_email: str
    provider_email: str
    admin_email: str
    group_id: int
    attendance_session: int
    year_start: datetime.date
    year_end: datetime.date
    year_sessions: int
    feed_token: str
    handout_path: str
    handout_slug: str
    handout_module: int
    packet_path: str
    packet_session: int
    copies_path: str
    notes_email: str
    notes_path: str
    outcomes_path: str
    notes: list[str] = field(default_factory=list)


def clear_pdf_cache(directory: Path) -> None:
    """Empty the PDF cache through diskcache: the workers keep its index open."""
    with diskcache.Cache(str(directory)) as cache:
        cache.clear()


def make_app(database_url: str, base_url: str, pdf_cache: Path):
    from groups import create_app

    return create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "bench-in-process",
            "BASE_URL": base_url,
            "PDF_CACHE_DIR": str(pdf_cache),
        }
    )


def choose_targets(app) -> Targets:
    """Pick the measured objects from the demo data (in-process, before the server)."""
    from peewee import fn

    from groups.clock import utcnow
    from groups.db import database
    from groups.models import Enrollment, Group, Module, PacketItem, Session, User
    from groups.services import feeds
    from groups.services import handouts as handout_service

    notes = []
    with app.app_context(), database.connection_context():
        now = utcnow()
        active = (
            Enrollment.select(Enrollment.group, fn.COUNT(Enrollment.id).alias("n"))
            .where(Enrollment.status == "active")
            .group_by(Enrollment.group)
        )
        counts = {row.group_id: row.n for row in active}
        sessions = {
            gid: n
            for gid, n in Session.select(Session.group, fn.COUNT(Session.id))
            .group_by(Session.group)
            .tuples()
        }
        candidates = [
            g
            for g in Group.select().where(Group.status == "active").order_by(Group.id)
            if counts.get(g.id, 0) >= 12 and sessions.get(g.id, 0) >= 20
        ]
        if not candidates:
            from tests.world import load_practice

            with app.test_request_context():
                world = load_practice("bench", password=DEMO_PASSWORD)
            candidates = [Group.get_by_id(world.attendance_group)]
            notes.append(
                "the demo data has no group with 12 members and 20+ sessions: measured a "
                "group seeded by tests/world.py instead"
            )
        group = None
        for g in candidates:
            past = (
                Session.select()
                .where(Session.group == g, Session.ends_at < now, Session.status != "cancelled")
                .order_by(Session.starts_at.desc())
                .first()
            )
            if past is not None:
                group, session = g, past
                break
        if group is None:
            raise BenchError(
                "the large demo data has no active group with 12 members, 20+ sessions and a "
                "past session; check `flask demo-data --scale large`"
            )
        provider = User.get_by_id(group.lead_id)
        members = list(
            User.select()
            .join(Enrollment, on=(Enrollment.member == User.id))
            .where(Enrollment.group == group, Enrollment.status == "active")
            .order_by(User.id)
        )
        # The member with the most sessions on their schedule: the heaviest page.
        per_member = {
            m.id: n
            for m, n in [
                (m, Enrollment.select().where(Enrollment.member == m).count()) for m in members
            ]
        }
        member = max(members, key=lambda m: (per_member[m.id], -m.id))
        admin = User.select().where(User.role == "admin", User.active).order_by(User.id).first()

        today = now.date()
        year_start = today - datetime.timedelta(days=182)
        year_end = year_start + datetime.timedelta(days=364)
        with app.test_request_context():
            year_sessions = len(feeds.export_feed(start=year_start, end=year_end))
            token = feeds.issue_token(member)
            lib = handout_service.library()
            handout = module = None
            # The first module of the member's groups that has its own handout
            # (number 1 of the module's handouts when it exists).
            for candidate in (
                Module.in_order(Module, Group)
                .join(Group)
                .where(Module.group.in_(Enrollment.group_ids_of(member)))
            ):
                found = handout_service.module_handouts(lib, candidate)
                if found and found[0].kind == "module":
                    module, handout = candidate, found[0]
                    break
            if handout is None:
                raise BenchError("no module handout for the chosen member's groups")
            handout_number = 1
            packet_session = (
                Session.select()
                .join(PacketItem, on=(PacketItem.session == Session.id))
                .where(Session.group == group)
                .order_by(Session.starts_at.desc())
                .first()
            )
            if packet_session is None:
                packet_session = session
                suggested, _ = handout_service.suggestions(session, lib)
                handout_service.save_packet(
                    session, [h.slug for h in suggested[:3]], False, by=provider
                )
                notes.append("packet: none in the demo data; picked the suggested handouts")
            copies_session = seed_member_copies(provider, lib, today)
            notes_lead, notes_session = seed_notes_page()
            outcomes_group = seed_outcomes_group(provider, now)
    return Targets(
        member_email=member.email,
        provider_email=provider.email,
        admin_email=admin.email,
        group_id=group.id,
        attendance_session=session.id,
        year_start=year_start,
        year_end=year_end,
        year_sessions=year_sessions,
        feed_token=token,
        handout_path=f"/handouts/my/modules/{module.id}/{handout_number}.pdf",
        handout_slug=handout.slug,
        handout_module=module.id,
        packet_path=f"/handouts/my/sessions/{packet_session.id}.pdf",
        packet_session=packet_session.id,
        copies_path=f"/handouts/sessions/{copies_session.id}/member-copies.pdf",
        notes_email=notes_lead.email,
        notes_path=f"/sessions/{notes_session.id}/notes",
        outcomes_path=f"/groups/{outcomes_group.id}/outcomes",
        notes=notes,
    )


COPIES_MEMBERS = 24


def seed_member_copies(provider, lib, today: datetime.date):
    """A group of 24 members whose next session has a packet of 10 handouts
    (the most a packet holds): the issue's "one copy per member" case."""
    from groups.services import handouts as handout_service
    from tests.world import enroll, make_user, new_group, weekly

    group = new_group(provider, name="Bench member-copies group", capacity=COPIES_MEMBERS)
    session = weekly(group, today + datetime.timedelta(days=7), count=1)[0]
    for n in range(1, COPIES_MEMBERS + 1):
        enroll(
            group, make_user("member", name=f"Copy Reader {n:02d}", email=f"copies{n}@bench.test")
        )
    suggested, others = handout_service.suggestions(session, lib)
    picked = [h.slug for h in suggested + others][: handout_service.MAX_PACKET_ITEMS]
    handout_service.save_packet(session, picked, False, by=provider)
    return session


NOTES_MEMBERS = 12


def seed_notes_page():
    """A held session with 12 members present and every note a saved draft: the issue's
    notes page, as a provider sees it halfway through documenting. Returns (lead, session)."""
    import itertools

    from groups.models import User
    from groups.passwords import hash_password
    from tests import world as builders

    # The builders number their addresses (member1@example.org, ...) as the demo
    # data does: start far above the demo's numbers.
    builders._numbers = itertools.count(10**6)
    world = builders.notes_world(NOTES_MEMBERS)
    world.write_all()
    User.update(password_hash=hash_password(DEMO_PASSWORD)).where(
        User.id == world.lead.id
    ).execute()
    return world.lead, world.session


OUTCOMES_MEMBERS = 12
OUTCOMES_SESSIONS = 30


def seed_outcomes_group(provider, now: datetime.datetime):
    """A group of 12 members who answered the GAD-7 at each of 30 past weekly sessions.

    Built with the clock set back before the first session (members must have
    joined before it to be asked), answers filed by ``outcomes.add_demo_measures``.
    """
    from groups import clock
    from groups.services import outcomes
    from tests.world import add_sessions, enroll, make_group, make_user

    then = now - datetime.timedelta(weeks=OUTCOMES_SESSIONS + 1)
    clock.frozen_at = then
    try:
        group = make_group(provider, "Bench outcomes group", focus="anxiety", capacity=12)
        for n in range(1, OUTCOMES_MEMBERS + 1):
            member = make_user(
                "member", name=f"Outcome Member {n:02d}", email=f"outcomes{n}@bench.test"
            )
            enroll(group, member)
    finally:
        clock.frozen_at = None
    add_sessions(group, then + datetime.timedelta(days=1), OUTCOMES_SESSIONS)
    outcomes.save_plan(group, ["gad7"], "every_session", False, by=provider)
    answers = outcomes.add_demo_measures(group, now)
    expected = OUTCOMES_MEMBERS * OUTCOMES_SESSIONS
    if answers != expected:
        raise BenchError(f"the outcomes group has {answers} answers, expected {expected}")
    return group


# --- measuring over HTTP -----------------------------------------------------------


def sample(
    fn: Callable[[], float],
    n: int,
    budget: float | None = None,
    minimum: int = 10,
    prepare: Callable[[], None] | None = None,
) -> list[float]:
    """``n`` timings of ``fn`` (seconds), stopping early after ``budget`` seconds
    once ``minimum`` are in. ``prepare`` runs untimed before each sample."""
    times: list[float] = []
    started = time.monotonic()
    while len(times) < n:
        if prepare is not None:
            prepare()
        times.append(fn())
        if budget and len(times) >= minimum and time.monotonic() - started > budget:
            break
    return times


ROSTER_STATUS = re.compile(r'name="status-(\d+)"')
VERSION = re.compile(r'name="version" value="([^"]*)"')


def measure_http(
    server: Server, targets: Targets, args, cpu: dict[str, float]
) -> dict[str, list[float]]:
    """Timings per measurement; ``cpu`` gets the server's CPU seconds per request."""
    member, provider, admin = Client(server.port), Client(server.port), Client(server.port)
    member.login(targets.member_email)
    provider.login(targets.provider_email)
    admin.login(targets.admin_email)
    notes_lead = Client(server.port)
    notes_lead.login(targets.notes_email)
    n, heavy, warm = args.requests, args.heavy, args.warmup
    out: dict[str, list[float]] = {}
    pids = server.pids()

    def run(name, fn, count=n, budget=None, prepare=None, warmup=warm):
        if args.only and name not in args.only:
            return
        for _ in range(warmup):
            if prepare is not None:
                prepare()
            fn()
        used = [0.0]

        def timed() -> float:
            workers = server.pids() if prepare is not None else pids  # a restart renews them
            before = server.cpu_seconds(workers)
            seconds = fn()
            used[0] += server.cpu_seconds(workers) - before
            return seconds

        out[name] = sample(timed, count, budget, prepare=prepare)
        cpu[name] = used[0] / len(out[name])
        print(f"  {name:<18} {len(out[name])} requests", file=sys.stderr)

    anon = Client(server.port)

    # Cold first, one kind at a time: each sample is prepared (untimed).
    export_path = (
        f"/calendars/export?what=practice&start={targets.year_start.isoformat()}"
        f"&end={targets.year_end.isoformat()}"
    )
    run(
        "ics_year_cold",
        lambda: expect(admin.get(export_path), 200, "calendar export (cold)"),
        count=heavy,
        budget=args.heavy_budget,
        prepare=worker_restarter(server),
        warmup=2,
    )
    cache = Path(args.pdf_cache)
    run(
        "handout_cold",
        lambda: expect(member.get(targets.handout_path), 200, "handout (cold)"),
        count=heavy,
        budget=args.heavy_budget,
        prepare=lambda: clear_pdf_cache(cache),
        warmup=3,
    )
    run(
        "member_copies",
        lambda: expect(provider.get(targets.copies_path), 200, "member copies (cold)"),
        count=heavy,
        budget=args.heavy_budget,
        prepare=lambda: clear_pdf_cache(cache),
        warmup=1,
    )

    # Attendance: read the form (untimed) for its version token, then time the
    # save; statuses alternate so every save really writes 12 rows.
    roster_path = f"/sessions/{targets.attendance_session}/attendance"
    form = {"i": 0, "data": []}

    def read_roster_form() -> None:
        page = provider.get(roster_path)
        expect(page, 200, "attendance form")
        ids = sorted(set(ROSTER_STATUS.findall(page.text)))
        if len(ids) < 12:
            raise BenchError(f"the roster has {len(ids)} members, expected 12")
        form["i"] += 1
        statuses = ("present", "late") if form["i"] % 2 else ("absent", "excused")
        data = [("version", VERSION.search(page.text).group(1))]
        for k, mid in enumerate(ids):
            data.append((f"status-{mid}", statuses[k % 2]))
            data.append((f"note-{mid}", f"bench {form['i']}" if k == 0 else ""))
        form["data"] = data

    group_path = f"/groups/{targets.group_id}"
    feed_path = f"/feed/{targets.feed_token}.ics"
    conditional: dict[str, str] = {}
    probes = [
        ("healthz", lambda: expect(anon.get("/healthz"), 200, "healthz"), None),
        ("member_schedule", lambda: expect(member.get("/schedule"), 200, "schedule"), None),
        ("group_page", lambda: expect(provider.get(group_path), 200, "group page"), None),
        (
            "notes_page",
            lambda: expect(notes_lead.get(targets.notes_path), 200, "notes page"),
            None,
        ),
        (
            "attendance_save",
            lambda: expect(provider.post(roster_path, form["data"]), 302, "attendance save"),
            read_roster_form,
        ),
        ("ics_year_warm", lambda: expect(admin.get(export_path), 200, "export"), None),
        (
            "ics_year_304",
            lambda: expect(admin.get(export_path, conditional), 304, "export 304"),
            None,
        ),
        ("member_feed", lambda: expect(anon.get(feed_path), 200, "member feed"), None),
        ("handout_warm", lambda: expect(member.get(targets.handout_path), 200, "handout"), None),
        ("packet", lambda: expect(member.get(targets.packet_path), 200, "packet"), None),
        (
            "outcomes_page",
            lambda: expect(provider.get(targets.outcomes_path), 200, "outcomes page"),
            None,
        ),
    ]
    probes = [p for p in probes if not args.only or p[0] in args.only]
    first = admin.get(export_path)
    etag, modified = first.headers.get("etag"), first.headers.get("last-modified")
    if etag or modified:
        conditional.update({"If-None-Match": etag} if etag else {"If-Modified-Since": modified})
    else:
        probes = [p for p in probes if p[0] != "ics_year_304"]
        targets.notes.append(
            "ics_year_304: not measured, the export answers without ETag/Last-Modified"
        )
    # The cold samples replaced the workers: count the CPU of the ones now running.
    interleave(probes, n, warm, server, server.pids(), out, cpu)
    for client in (member, provider, admin, anon, notes_lead):
        client.close()
    return out


def interleave(probes, n, warm, server, pids, out, cpu) -> None:
    """``n`` rounds, each timing every probe once in a shuffled order.

    Taking the pages and their floor (``/healthz``) turn about keeps the ratios
    fair when other work on the machine comes and goes during the run.
    """
    for _name, fn, prepare in probes:
        for _ in range(warm):
            if prepare is not None:
                prepare()
            fn()
    times: dict[str, list[float]] = {name: [] for name, _, _ in probes}
    used: dict[str, float] = {name: 0.0 for name, _, _ in probes}
    order = list(probes)
    shuffle = random.Random(2026).shuffle
    for _ in range(n):
        shuffle(order)
        for name, fn, prepare in order:
            if prepare is not None:
                prepare()
            before = server.cpu_seconds(pids)
            times[name].append(fn())
            used[name] += server.cpu_seconds(pids) - before
    for name, _, _ in probes:
        out[name] = times[name]
        cpu[name] = used[name] / n
        print(f"  {name:<18} {n} requests (interleaved)", file=sys.stderr)


def worker_restarter(server: Server) -> Callable[[], None]:
    """Replace every worker with a freshly started one (untimed, before each cold sample).

    SIGHUP makes gunicorn start new workers and stop the old ones gracefully;
    without ``--preload`` each new worker imports the app itself, so nothing
    a worker could hold in memory survives.
    """

    def restart() -> None:
        master = server.proc.pid
        old = set(server.pids()) - {master}
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 60
        while True:
            workers = set(server.pids()) - {master}
            if len(workers) == server.workers and not workers & old:
                break
            if time.monotonic() > deadline:
                raise BenchError("gunicorn did not replace its workers after SIGHUP")
            time.sleep(0.05)
        server.wait_ready(60)

    return restart


# --- floors, in this process ---------------------------------------------------------


def measure_floors(app, targets: Targets, args, cpu: dict[str, float]) -> dict[str, list[float]]:
    from groups import calendars
    from groups.db import database
    from groups.handouts import render as renderer
    from groups.models import Group, Module, Session, User
    from groups.services import feeds
    from groups.services import handouts as handout_service

    out: dict[str, list[float]] = {}
    with app.test_request_context(), database.connection_context():
        member = User.by_email(targets.member_email)
        lib = handout_service.library()
        handout = lib[targets.handout_slug]
        module = (
            Module.select(Module, Group)
            .join(Group)
            .where(Module.id == targets.handout_module)
            .get()
        )
        context = handout_service.print_context(
            group=module.group, member=member, module_title=module.title
        )
        html = renderer.build_html([handout], context)
        session = Session.get_by_id(targets.packet_session)
        packet, _ = handout_service.packet_handouts(session, lib)
        packet_html = renderer.build_html(
            packet,
            handout_service.print_context(session=session, member=member),
            title=handout_service.packet_title(session),
        )
        year = feeds.export_feed(start=targets.year_start, end=targets.year_end)
        mine = feeds.member_feed(member)

    used = [0.0]

    def pdf(markup: str) -> Callable[[], float]:
        def once() -> float:
            started, cpu_started = time.perf_counter(), time.process_time()
            renderer._write_pdf(markup)
            used[0] += time.process_time() - cpu_started
            return time.perf_counter() - started

        return once

    def ics(feed) -> Callable[[], float]:
        # The same FeedEvents the view builds, given straight to the builder:
        # every VEVENT and VTIMEZONE serialised with icalendar, nothing kept.
        with app.test_request_context(), database.connection_context():
            events, host = feed.events(), feeds.uid_host()

        def once() -> float:
            started, cpu_started = time.perf_counter(), time.process_time()
            calendars.build_calendar(
                events,
                name=feed.name,
                timezone=feed.timezone,
                host=host,
                refresh_minutes=feeds.REFRESH_MINUTES,
            )
            used[0] += time.process_time() - cpu_started
            return time.perf_counter() - started

        return once

    for name, fn in (
        ("pdf_floor", pdf(html)),
        ("packet_floor", pdf(packet_html)),
        ("ics_floor", ics(year)),
        ("member_feed_floor", ics(mine)),
    ):
        if args.only and name not in args.only:
            continue
        for _ in range(3):
            fn()
        used[0] = 0.0
        out[name] = sample(fn, args.heavy, args.heavy_budget)
        cpu[name] = used[0] / len(out[name])
        print(f"  {name:<18} {len(out[name])} runs", file=sys.stderr)
    return out


# --- mail ----------------------------------------------------------------------------

MAIL_MESSAGES = 1000
MAIL_GOAL_PER_S = 200


def measure_mail_dispatch(tmp: Path) -> dict[str, float]:
    """``MAIL_MESSAGES`` queued messages delivered by one dispatcher pass to a local aiosmtpd.

    The SMTP server is its own process (as a real relay would be) and the
    outbox its own SQLite file, so the demo data stays as it was. Queueing
    is untimed; the pass (claims, SMTP over one connection, marking each
    sent and audited) is timed whole. "CPU ms" is the dispatcher's own.
    """
    import socket
    import subprocess

    from benchmarks.harness import free_port
    from groups import create_app, mail
    from groups.db import database
    from groups.migrate import apply_migrations
    from groups.models import OutboxMessage, User

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink"]
        + ["-l", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp / 'mail-bench.db'}",
            "SECRET_KEY": "bench-mail",
            "BASE_URL": "http://127.0.0.1",
            "MAIL_URL": f"smtp://127.0.0.1:{port}",
            "MAIL_FROM": "clinic@example.org",
        }
    )
    try:
        with app.app_context(), database.connection_context():
            apply_migrations()
            members = [
                User.create(
                    email=f"bench-member-{n}@example.org", name=f"Member {n}", role="member"
                )
                for n in range(50)
            ]
            with database.atomic():
                for n in range(MAIL_MESSAGES):
                    mail.queue(
                        "test",
                        to=members[n % len(members)],
                        key=f"bench-{n}",
                        subject="Test message",
                        context={"destination": "the bench's SMTP server"},
                    )
            deadline = time.monotonic() + 30
            while True:  # the server process is listening once a connection succeeds
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise BenchError("mail_dispatch: aiosmtpd did not start") from None
                    time.sleep(0.1)
            started, cpu_started = time.perf_counter(), time.process_time()
            result = mail.run_pass()
            seconds = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            sent = OutboxMessage.select().where(OutboxMessage.status == "sent").count()
    finally:
        server.terminate()
        server.wait(10)
    if not result.ok or sent != MAIL_MESSAGES:
        raise BenchError(f"mail_dispatch: {result.summary()} ({sent} marked sent)")
    print(f"  {'mail_dispatch':<18} {MAIL_MESSAGES} messages", file=sys.stderr)
    return {
        "n": MAIL_MESSAGES,
        "seconds": round(seconds, 3),
        "messages_per_s": round(MAIL_MESSAGES / seconds, 1),
        "cpu_ms_per_message": round(cpu * 1000 / MAIL_MESSAGES, 3),
    }


# --- reporting ---------------------------------------------------------------------


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {
        "cpus": str(os.cpu_count()),
        "cpu": model,
        "ram": ram,
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def results_table(timings: dict[str, list[float]], cpu: dict[str, float]) -> dict[str, dict]:
    results: dict[str, dict] = {}
    for name, _floor, _goal in ROWS:
        if name in timings:
            results[name] = summarise(timings[name])
            if name in cpu:
                results[name]["cpu_ms"] = round(cpu[name] * 1000, 2)
    for name, floor, _goal in ROWS:
        if name in results and floor and floor in results:
            results[name]["ratio"] = round(results[name]["p95_ms"] / results[floor]["p95_ms"], 3)
    return results


def format_table(results: dict[str, dict], workers: int) -> str:
    lines = [
        "| measurement | n | p50 ms | p95 ms | req/s | CPU ms | ratio (p95 / floor p95) | goal |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for name, floor, goal in ROWS:
        if name not in results:
            lines.append(f"| {name} | – | – | – | – | – | not measured | {goal} |")
            continue
        r = results[name]
        ratio = f"{r['ratio']:.3f} × {floor}" if "ratio" in r else ""
        cpu = f"{r['cpu_ms']:.1f}" if "cpu_ms" in r else ""
        lines.append(
            f"| {name} | {r['n']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | {r['rps']:.1f} "
            f"| {cpu} | {ratio} | {goal} |"
        )
    return "\n".join(lines)


def goals(results: dict[str, dict]) -> list[tuple[str, bool, str]]:
    """(goal, met, figures) for each goal of the issue that could be measured."""

    def p95(name):
        return results[name]["p95_ms"]

    checks = []
    for name in ("member_schedule", "group_page"):
        if name in results:
            checks.append(
                (
                    f"{name} p95 < 25 ms and < 5x healthz",
                    p95(name) < 25 and results[name]["ratio"] < 5,
                    f"{p95(name):.2f} ms, {results[name]['ratio']:.2f}x",
                )
            )
    if "notes_page" in results:
        checks.append(
            (
                "notes_page p95 < 5x healthz",
                results["notes_page"]["ratio"] < 5,
                f"{p95('notes_page'):.2f} ms, {results['notes_page']['ratio']:.2f}x",
            )
        )
    if "attendance_save" in results:
        checks.append(
            (
                "attendance_save p95 < 40 ms",
                p95("attendance_save") < 40,
                f"{p95('attendance_save'):.2f} ms",
            )
        )
    for name in ("ics_year_cold", "ics_year_warm"):
        if name in results and "ratio" in results[name]:
            r = results[name]["ratio"]
            checks.append((f"{name} < 10% of ics_floor", r < 0.10, f"{r * 100:.1f}%"))
    if "ics_year_304" in results:
        checks.append(
            ("ics_year_304 p95 < 5 ms", p95("ics_year_304") < 5, f"{p95('ics_year_304'):.2f} ms")
        )
    if "handout_warm" in results:
        checks.append(
            ("handout_warm p95 < 10 ms", p95("handout_warm") < 10, f"{p95('handout_warm'):.2f} ms")
        )
    if "mail_dispatch" in results:
        rate = results["mail_dispatch"]["messages_per_s"]
        checks.append(
            (
                f"mail_dispatch >= {MAIL_GOAL_PER_S} messages/s",
                rate >= MAIL_GOAL_PER_S,
                f"{rate:.0f}/s",
            )
        )
    if "member_copies" in results and "pdf_floor" in results:
        r = results["member_copies"]["p50_ms"] / results["pdf_floor"]["p50_ms"]
        checks.append(("member_copies p50 < 30x pdf_floor p50", r < 30, f"{r:.1f}x"))
    if "outcomes_page" in results:
        r = results["outcomes_page"]["ratio"]
        checks.append(("outcomes_page p95 < 5x healthz", r < 5, f"{r:.2f}x"))
    if "handout_cold" in results and "ratio" in results["handout_cold"]:
        r = results["handout_cold"]["ratio"]
        checks.append(("handout_cold < 1.2x pdf_floor", r < 1.2, f"{r:.2f}x"))
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500, help="timed requests per page")
    parser.add_argument("--heavy", type=int, default=200, help="samples of cold renders/floors")
    parser.add_argument(
        "--heavy-budget", type=float, default=30, help="seconds after which a heavy one stops"
    )
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--scale", default="large", choices=["small", "large"])
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument(
        "--only",
        type=lambda v: set(v.split(",")),
        default=set(),
        help="comma-separated measurement names (default: all)",
    )
    args = parser.parse_args(argv)
    # A ratio needs its floor: measure the floors of the chosen rows too.
    args.only |= {floor for name, floor, _ in ROWS if name in args.only and floor}

    tmp = Path(tempfile.mkdtemp(prefix="groups-bench-"))
    args.pdf_cache = str(tmp / "pdf-cache")
    database_url = f"sqlite:///{tmp / 'bench.db'}"
    server = Server(
        database_url,
        workers=args.workers,
        extra_env={"PDF_CACHE_DIR": args.pdf_cache},
        log_path=tmp / "gunicorn.log",
    )
    try:
        env = app_environment(database_url, server.port, PDF_CACHE_DIR=args.pdf_cache)
        started = time.monotonic()
        flask_cli("init-db", env=env)
        flask_cli("demo-data", "--scale", args.scale, env=env)
        print(
            f"demo data ({args.scale}) built in {time.monotonic() - started:.1f}s", file=sys.stderr
        )
        app = make_app(database_url, server.base_url, Path(args.pdf_cache))
        targets = choose_targets(app)
        print(
            f"measuring group {targets.group_id}, session {targets.attendance_session}, "
            f"{targets.year_sessions} sessions in the year",
            file=sys.stderr,
        )
        load_before = os.getloadavg()[0]
        if load_before > (os.cpu_count() or 1) / 2:
            print(
                f"warning: load average {load_before:.1f} on {os.cpu_count()} CPUs; other work "
                "on this machine will inflate the figures",
                file=sys.stderr,
            )
        server.start()
        cpu: dict[str, float] = {}
        try:
            timings = measure_http(server, targets, args, cpu)
        finally:
            server.stop()
        timings.update(measure_floors(app, targets, args, cpu))
        mail_dispatch = (
            measure_mail_dispatch(tmp) if not args.only or "mail_dispatch" in args.only else None
        )
    except BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        print(server.log(), file=sys.stderr)
        return 1
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"kept {tmp}", file=sys.stderr)

    results = results_table(timings, cpu)
    if mail_dispatch is not None:
        results["mail_dispatch"] = mail_dispatch
    info = machine()
    print()
    print(
        f"Machine: {info['cpus']} CPUs ({info['cpu']}), {info['ram']} RAM, Python "
        f"{info['python']}; gunicorn {args.workers} sync workers, SQLite, "
        f"{targets.year_sessions} sessions in the year's calendar; load average "
        f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print()
    print(format_table(results, args.workers))
    if mail_dispatch is not None:
        print(
            f"\nmail_dispatch: {mail_dispatch['n']} messages in {mail_dispatch['seconds']:.2f} s, "
            f"{mail_dispatch['messages_per_s']:.0f} messages/s, "
            f"{mail_dispatch['cpu_ms_per_message']:.2f} CPU ms each "
            f"(goal >= {MAIL_GOAL_PER_S} messages/s)"
        )
    print()
    for goal, met, figures in goals(results):
        print(f"{'met ' if met else 'MISS'}  {goal}: {figures}")
    for note in targets.notes:
        print(f"note: {note}")
    args.output.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
