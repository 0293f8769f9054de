"""Demo data: a small practice to click through, or a large one for benchmarks.

Everything is placed relative to today, so a fresh demo always has sessions
today and this week, held sessions (with attendance) in the past and a
schedule ahead. Both scales describe their groups as ``GroupPlan``s and build
them the same way: rows go in with ``insert_many`` in batches inside one
transaction, and the demo password is hashed once for every account.

The rows come from the services' own rules, so the demo cannot drift from
the product: session times from ``schedule.plan_weekly`` (local wall-clock
time, closures skipped), each session's module from
``schedule.module_sequence`` (cancelled sessions cover nothing) and the
curricula from ``groups.curriculum_rows``. Only the writing differs: the
large practice is tens of thousands of rows with a year of past history,
which the services rightly refuse (a schedule starting in the past) and
would write one audited transaction at a time.
"""

from __future__ import annotations

import datetime
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from peewee import JOIN

from .clinical.codes import npi_with_check_digit
from .clock import local_date, local_to_utc, utcnow, zone
from .db import database
from .handouts import HandoutError, load_library
from .models import (
    Attendance,
    ChargeLine,
    Closure,
    CoFacilitator,
    Enrollment,
    Group,
    GroupNote,
    MemberNote,
    Module,
    PacketItem,
    Session,
    User,
)
from .passwords import hash_password
from .services.groups import curriculum_rows
from .services.schedule import module_sequence, plan_weekly

DEMO_PASSWORD = "demo-password-2026"
BATCH = 500
WEEK = datetime.timedelta(weeks=1)
DEMO_PROVIDER = "provider@example.org"
DEMO_MEMBER = "member@example.org"


class DemoError(RuntimeError):
    pass


@dataclass
class GroupPlan:
    name: str
    focus: str
    lead: str  # email
    timezone: str
    location: str
    format: str = "closed"
    status: str = "active"
    capacity: int = 10
    co: tuple[str, ...] = ()
    description: str = ""
    first_day: datetime.date | None = None  # None: no schedule yet
    weekday: int = 0
    at: datetime.time = datetime.time(18, 0)
    count: int = 10
    duration: int = 90
    members: list[str] = field(default_factory=list)  # active, joined before the start
    late_joiners: dict[str, datetime.date] = field(default_factory=dict)  # open groups
    waitlisted: list[str] = field(default_factory=list)
    withdrawn: dict[str, str] = field(default_factory=dict)  # email -> reason
    cancelled: dict[int, str] = field(default_factory=dict)  # session index -> reason
    absent_streak: tuple[str, ...] = ()  # absent at the last two held sessions
    measures: bool = False  # answers to past check-ins (outcomes.add_demo_measures)


def load_demo(scale: str = "small") -> str:
    if User.select().exists() or Group.select().exists():
        raise DemoError(
            "The database is not empty (it already has accounts or groups); demo data is "
            "only loaded into an empty database. Point DATABASE_URL at a new database, or "
            "delete instance/groups.db and run `flask --app app init-db` first."
        )
    started = time.perf_counter()
    password_hash = hash_password(DEMO_PASSWORD)
    now = utcnow()
    build = small_practice if scale == "small" else large_practice
    users, closures, plans = build(now)
    with database.atomic():
        # The large practice (benchmarks) skips the clinical record's history:
        # its notes pages are measured on sessions the benchmark documents itself.
        counts = Builder(now, password_hash, with_notes=scale == "small").build(
            users, closures, plans
        )
    if scale == "small":
        counts["measure answers"] = add_demo_measures(plans, now)
        counts["messages in the outbox"] = queue_demo_mail(now)
    seconds = time.perf_counter() - started
    summary = ", ".join(f"{n:,} {name}" for name, n in counts.items())
    return f"Loaded the {scale} demo practice in {seconds:.1f} s: {summary}.\n" + demo_logins()


def add_demo_measures(plans: list[GroupPlan], now: datetime.datetime) -> int:
    """Past check-ins for the groups marked ``measures`` (see outcomes.add_demo_measures).

    Only some groups: every PHQ-9 group gets an open item-9 alert, and the
    demo should show one alert to handle, not a practice full of them.
    """
    from .services.outcomes import add_demo_measures as add_to_group

    names = [plan.name for plan in plans if plan.measures]
    groups = Group.select().where(Group.name.in_(names)).order_by(Group.id)
    return sum(add_to_group(group, now) for group in groups)


# Accounts made by staff who have not set a password yet: their invitations
# wait in the outbox (the admin's Outbox page on `make run`).
DEMO_INVITED = [
    ("nadia.rahman@example.org", "Nadia Rahman", "member", "America/New_York"),
    ("owen.walsh@example.org", "Owen Walsh", "member", "America/Chicago"),
]


def queue_demo_mail(now: datetime.datetime) -> int:
    """Invitations for the demo's invited accounts and the reminders now due, through the services.

    The reminders are the dispatcher's own step (``queue_reminders``), run
    once here so the Outbox page has them before any dispatcher runs.
    """
    from .mail.messages import queue_reminders
    from .services.accounts import create_invited

    admin = User.get(User.email == "admin@example.org")
    for email, name, role, tz in DEMO_INVITED:
        create_invited(email, name, role, timezone=tz, created_by=admin)
    return len(DEMO_INVITED) + queue_reminders(now)


def demo_logins() -> str:
    return "\n".join(
        [
            "Demo logins (password for all: " + DEMO_PASSWORD + "):",
            "  admin     admin@example.org",
            "  provider  provider@example.org",
            "  member    member@example.org",
        ]
    )


# --- the small practice ---------------------------------------------------------

WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

SMALL_MEMBERS = [
    ("member@example.org", "Morgan Lee", "America/New_York"),
    ("jordan.price@example.org", "Jordan Price", "America/New_York"),
    ("aisha.khan@example.org", "Aisha Khan", "America/New_York"),
    ("ben.okafor@example.org", "Ben Okafor", "America/Chicago"),
    ("carmen.diaz@example.org", "Carmen Diaz", "America/Chicago"),
    ("dev.patel@example.org", "Dev Patel", "America/Denver"),
    ("emma.schultz@example.org", "Emma Schultz", "America/New_York"),
    ("farah.haddad@example.org", "Farah Haddad", "America/Los_Angeles"),
    ("gabe.moreno@example.org", "Gabe Moreno", "America/Los_Angeles"),
    ("hana.sato@example.org", "Hana Sato", "America/Los_Angeles"),
    ("isaac.cohen@example.org", "Isaac Cohen", "America/New_York"),
    ("julia.novak@example.org", "Julia Novak", "America/Chicago"),
    ("kwame.mensah@example.org", "Kwame Mensah", "America/New_York"),
    ("lena.fischer@example.org", "Lena Fischer", "Europe/London"),
]


def next_dst_change(tz: str, after: datetime.date) -> datetime.date:
    """The first day after ``after`` whose UTC offset differs from the day before."""
    tzinfo = zone(tz)

    def offset(day):
        return datetime.datetime.combine(day, datetime.time(12), tzinfo).utcoffset()

    day = after
    for _ in range(400):
        if offset(day + datetime.timedelta(days=1)) != offset(day):
            return day + datetime.timedelta(days=1)
        day += datetime.timedelta(days=1)
    return after  # a zone without daylight saving


SMALL_GROUPS = Path(__file__).with_name("demo_groups.yaml")


def load_small_groups() -> list[dict]:
    return yaml.safe_load(SMALL_GROUPS.read_text(encoding="utf-8"))


def small_plan(entry: dict, today: datetime.date, members: list[str]) -> GroupPlan:
    """A GroupPlan from one entry of demo_groups.yaml (its header says what the keys mean)."""
    entry = dict(entry)

    def in_days(n: int) -> datetime.date:
        return today + datetime.timedelta(days=n)

    start = entry.pop("start", None)
    weeks_before_dst = entry.pop("weeks_before_dst", None)
    shift = entry.pop("weekday", None)
    first_day = in_days(start) if start is not None else None
    if weeks_before_dst is not None:
        dst = next_dst_change(entry["timezone"], first_day)
        first_day = max(first_day, dst - datetime.timedelta(weeks=weeks_before_dst))
    if first_day is not None:
        entry["first_day"] = first_day
        entry["weekday"] = first_day.weekday() if shift is None else (today.weekday() + shift) % 7
    if "at" in entry:
        entry["at"] = datetime.time.fromisoformat(entry["at"])
    entry["name"] = entry["name"].format(weekday=WEEKDAY_NAMES[today.weekday()])
    entry["co"] = tuple(entry.get("co", ()))
    for key in ("members", "waitlisted"):
        entry[key] = [members[i] for i in entry.get(key, [])]
    entry["absent_streak"] = tuple(members[i] for i in entry.get("absent_streak", []))
    entry["withdrawn"] = {members[i]: why for i, why in entry.get("withdrawn", {}).items()}
    entry["late_joiners"] = {
        members[i]: in_days(n) for i, n in entry.get("late_joiners", {}).items()
    }
    return GroupPlan(**entry)


def small_practice(now: datetime.datetime):
    today = local_date(now, "America/New_York")
    users = [
        ("admin@example.org", "Alex Admin", "admin", "America/New_York"),
        ("provider@example.org", "Dr. Priya Raman", "provider", "America/New_York"),
        ("marcus.bell@example.org", "Dr. Marcus Bell", "provider", "America/Los_Angeles"),
        ("elena.ortiz@example.org", "Dr. Elena Ortiz", "provider", "America/Denver"),
    ] + [(email, name, "member", tz) for email, name, tz in SMALL_MEMBERS]
    m = [email for email, _, _ in SMALL_MEMBERS]

    def in_days(n: int) -> datetime.date:
        return today + datetime.timedelta(days=n)

    # A closure two weeks from today: the Monday-style group below meets on
    # today's weekday, so its session that day moves to the following week.
    closures = [(in_days(14), "Practice staff training day")]
    for year in (today.year, today.year + 1):
        for month, day, reason in ((1, 1, "New Year's Day"), (12, 25, "Christmas Day")):
            holiday = datetime.date(year, month, day)
            if today < holiday <= in_days(365) and holiday != in_days(14):
                closures.append((holiday, reason))

    plans = [small_plan(entry, today, m) for entry in load_small_groups()]
    return users, closures, plans


# --- the large practice ---------------------------------------------------------

FIRST_NAMES = (
    "Ava Ben Chloe Dan Eli Fay Gus Hugo Ines Jack Kira Liam Maya Noah Omar Pia Quinn Rosa "
    "Sam Tara Uma Vic Wes Xena Yuri Zoe Ana Bo Cy Di"
).split()
LAST_NAMES = (
    "Adams Baker Chen Diaz Evans Ford Garcia Hill Ito Jones Khan Lopez Moore Ng Owens "
    "Park Quinn Reyes Smith Tran Usman Vega Wong Xu Young Zhou Abe Brooks Cruz Dunn"
).split()
ZONES = ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles")
TIMES = (datetime.time(9), datetime.time(12), datetime.time(17, 30), datetime.time(18, 30))

LARGE_GROUPS = 360
LARGE_MEMBERS = 3000
LARGE_PROVIDERS = 30
PER_GROUP = 12


def large_practice(now: datetime.datetime):
    """360 groups of 12, 3,000 members, about 10,800 sessions over a year."""
    today = local_date(now, "America/New_York")
    users = [("admin@example.org", "Alex Admin", "admin", "America/New_York")]
    providers = ["provider@example.org"] + [
        f"provider{i}@example.org" for i in range(1, LARGE_PROVIDERS)
    ]
    users.append(("provider@example.org", "Dr. Priya Raman", "provider", "America/New_York"))
    users += [
        (email, f"Dr. {FIRST_NAMES[i % 30]} {LAST_NAMES[(i * 7) % 30]}", "provider", ZONES[i % 4])
        for i, email in enumerate(providers[1:], start=1)
    ]
    members = ["member@example.org"] + [f"member{i}@example.org" for i in range(1, LARGE_MEMBERS)]
    users.append(("member@example.org", "Morgan Lee", "member", "America/New_York"))
    users += [
        (email, f"{FIRST_NAMES[i % 30]} {LAST_NAMES[(i // 30) % 30]}", "member", ZONES[i % 4])
        for i, email in enumerate(members[1:], start=1)
    ]
    closures = []
    for year in (today.year - 1, today.year, today.year + 1):
        for month, day, reason in ((1, 1, "New Year's Day"), (7, 4, "Independence Day")):
            closures.append((datetime.date(year, month, day), reason))
        closures.append((datetime.date(year, 12, 25), "Christmas Day"))
    closures = [(d, r) for d, r in closures if abs((d - today).days) <= 366]

    plans = []
    for i in range(LARGE_GROUPS):
        focus = ("anxiety", "depression", "adhd")[i % 3]
        count = 20 + (i * 13) % 21  # 20 to 40 sessions
        # Starts spread over forty weeks, most of them in the past: a year of history and plans.
        first_day = today + datetime.timedelta(weeks=(i % 40) - 30, days=i % 7)
        weeks = count + 3
        ended = first_day + datetime.timedelta(weeks=weeks) < today
        # Everyone but the demo member, in turn (some members are in two groups).
        seats = [
            members[1 + (i * PER_GROUP + k) % (LARGE_MEMBERS - 1)] for k in range(PER_GROUP + 2)
        ]
        plan = GroupPlan(
            name=f"{focus.upper() if focus == 'adhd' else focus.title()} group {i + 1:03d}",
            focus=focus,
            lead=providers[i % LARGE_PROVIDERS],
            co=(providers[(i + 1) % LARGE_PROVIDERS],) if i % 4 == 0 else (),
            timezone=ZONES[i % 4],
            location=f"Room {1 + i % 9}" if i % 2 else f"https://video.example.org/g{i + 1}",
            format="open" if i % 5 in (1, 3) else "closed",
            status="completed" if ended else "active",
            capacity=PER_GROUP,
            first_day=first_day,
            weekday=first_day.weekday() if first_day.weekday() < 5 else i % 5,
            at=TIMES[i % 4],
            count=count,
            members=seats[:PER_GROUP],
            waitlisted=seats[PER_GROUP:] if i % 10 == 0 else [],
            cancelled={3: "Facilitator unwell; we pick up next week."} if i % 6 == 0 else {},
        )
        plans.append(plan)
    # The demo member's groups meet today and later this week.
    for plan, offset in ((plans[0], 0), (plans[1], 2)):
        plan.first_day = today - datetime.timedelta(weeks=4)
        plan.weekday = (today.weekday() + offset) % 7
        plan.count, plan.status = 20, "active"
        plan.members = ["member@example.org"] + plan.members[: PER_GROUP - 1]
    return users, closures, plans


# --- building ---------------------------------------------------------------------


def insert(model, columns: str | None, rows) -> None:
    """Insert tuples in batches; ``columns`` names the model's fields in the tuples' order."""
    fields = [model._meta.fields[name] for name in columns.split()] if columns else None
    for i in range(0, len(rows), BATCH):
        model.insert_many(rows[i : i + BATCH], fields=fields).as_rowcount().execute()


class Builder:
    def __init__(self, now: datetime.datetime, password_hash: str, *, with_notes: bool = True):
        self.now = now
        self.password_hash = password_hash
        self.random = random.Random(2026)
        self.with_notes = with_notes

    def build(self, users, closures, plans: list[GroupPlan]) -> dict[str, int]:
        now = self.now
        insert(
            User,
            "email name role timezone password_hash created_at updated_at",
            [(e, n, r, tz, self.password_hash, now, now) for e, n, r, tz in users],
        )
        self.user_ids = dict(User.select(User.email, User.id).tuples())
        insert(Closure, "date reason", closures)
        self.closed = {day for day, _ in closures}
        group_ids = self.groups(plans)
        modules = self.modules(plans, group_ids)
        sessions = self.sessions(plans, group_ids, modules)
        enrollments = self.enrollments(plans, group_ids, sessions)
        attendance = self.past_attendance(plans, group_ids, sessions, enrollments)
        packets = self.packets(plans, group_ids)
        self.provider_npis()
        signed = self.clinical_notes(plans, group_ids) if self.with_notes else 0
        return {
            "accounts": len(users),
            "groups": len(plans),
            "sessions": sum(len(s) for s in sessions.values()),
            "enrollments": sum(len(e) for e in enrollments.values()),
            "attendance records": attendance,
            "session packets": packets,
            "signed progress notes": signed,
            "closures": len(closures),
        }

    def groups(self, plans: list[GroupPlan]) -> dict[str, int]:
        now, uid = self.now, self.user_ids
        insert(
            Group,
            "name focus description lead capacity format location timezone status start_date"
            " weekday start_time duration_minutes session_count created_at updated_at",
            [
                (
                    p.name,
                    p.focus,
                    p.description,
                    uid[p.lead],
                    p.capacity,
                    p.format,
                    p.location,
                    p.timezone,
                    p.status,
                    p.first_day,
                    p.weekday if p.first_day else None,
                    p.at if p.first_day else None,
                    p.duration if p.first_day else None,
                    p.count if p.first_day else None,
                    now,
                    now,
                )
                for p in plans
            ],
        )
        ids = dict(Group.select(Group.name, Group.id).tuples())
        insert(
            CoFacilitator,
            "group provider",
            [(ids[p.name], uid[email]) for p in plans for email in p.co],
        )
        return ids

    def modules(self, plans, group_ids) -> dict[int, list[int]]:
        rows = [row for p in plans for row in curriculum_rows(group_ids[p.name], p.focus)]
        insert(Module, None, rows)
        modules: dict[int, list[int]] = defaultdict(list)
        query = Module.select(Module.group, Module.id).order_by(Module.group, Module.position)
        for group_id, module_id in query.tuples():
            modules[group_id].append(module_id)
        return modules

    def sessions(self, plans, group_ids, modules) -> dict[int, list[tuple]]:
        """Weekly sessions in local time; the past is held, cancelled ones cover no module."""
        rows = []
        for p in plans:
            if p.first_day is None:
                continue
            group_id = group_ids[p.name]
            times = plan_weekly(
                p.first_day, p.weekday, p.at, p.duration, p.count, p.timezone, self.closed
            ).times
            statuses = [
                "cancelled" if index in p.cancelled else "scheduled" for index in range(len(times))
            ]
            covers = module_sequence(modules[group_id], ((s, None) for s in statuses))
            for index, ((starts, ends), module) in enumerate(zip(times, covers, strict=True)):
                reason = p.cancelled.get(index, "")
                status = "cancelled" if reason else "held" if ends < self.now else "scheduled"
                revision = 1 if reason else 0
                stamp = min(starts, self.now)
                rows.append((group_id, module, starts, ends, status, reason, revision, stamp))
        insert(
            Session,
            "group module starts_at ends_at status cancel_reason revision updated_at",
            rows,
        )
        by_group: dict[int, list[tuple]] = defaultdict(list)
        query = Session.select(Session.id, Session.group, Session.starts_at, Session.status)
        for session_id, group_id, starts, status in query.order_by(Session.starts_at).tuples():
            by_group[group_id].append((session_id, Session.starts_at.python_value(starts), status))
        return by_group

    def enrollments(self, plans, group_ids, sessions) -> dict[int, list[tuple]]:
        """Members joined a week before the first session (or later, in open groups)."""
        rows = []
        uid = self.user_ids
        for p in plans:
            group_id = group_ids[p.name]
            first = sessions[group_id][0][1] if sessions.get(group_id) else self.now
            joined = min(first, self.now) - WEEK
            lead = uid[p.lead]
            for n, email in enumerate(p.members):
                at = joined + datetime.timedelta(minutes=n)
                rows.append((group_id, uid[email], "active", at, at, None, "", lead))
            for email, day in p.late_joiners.items():
                at = local_to_utc(day, datetime.time(9), p.timezone)
                rows.append((group_id, uid[email], "active", at, at, None, "", lead))
            for n, email in enumerate(p.waitlisted):
                at = joined + datetime.timedelta(days=1, minutes=n)
                rows.append((group_id, uid[email], "waitlisted", at, None, None, "", lead))
            for email, reason in p.withdrawn.items():
                left = min(first + 2 * WEEK + datetime.timedelta(days=1), self.now)
                rows.append((group_id, uid[email], "withdrawn", joined, joined, left, reason, lead))
        focus = {group_ids[p.name]: p.focus for p in plans}
        rows = [(*row, self.diagnosis(focus[row[0]])) for row in rows]
        insert(
            Enrollment,
            "group member status requested_at joined_at withdrawn_at withdraw_reason created_by"
            " diagnosis_codes",
            rows,
        )
        by_group: dict[int, list[tuple]] = defaultdict(list)
        for group_id, member_id, status, joined_at, withdrawn_at in rows_by_group(rows):
            by_group[group_id].append((member_id, status, joined_at, withdrawn_at))
        return by_group

    def past_attendance(self, plans, group_ids, sessions, enrollments) -> int:
        """Plausible attendance for every held session, for the members seated then.

        Mostly present, some late, a few absent or excused; ``absent_streak``
        members missed the last two held sessions, so they are flagged for a
        check-in.
        """
        streaks = {
            (group_ids[p.name], self.user_ids[email]) for p in plans for email in p.absent_streak
        }
        choices = ("present", "late", "absent", "excused")
        weights = (78, 8, 9, 5)
        rows = []
        for p in plans:
            group_id = group_ids[p.name]
            lead = self.user_ids[p.lead]
            held = [s for s in sessions.get(group_id, []) if s[2] == "held"]
            last_two = {s[0] for s in held[-2:]}
            for session_id, starts, _ in held:
                for member_id, status, joined_at, withdrawn_at in enrollments[group_id]:
                    if status == "waitlisted" or joined_at > starts:
                        continue
                    if withdrawn_at is not None and withdrawn_at <= starts:
                        continue
                    if (group_id, member_id) in streaks and session_id in last_two:
                        mark = "absent"
                    else:
                        mark = self.random.choices(choices, weights)[0]
                    note = "Let the group know in advance." if mark == "excused" else ""
                    stamp = starts + datetime.timedelta(minutes=p.duration)
                    rows.append((session_id, member_id, mark, note, lead, stamp))
        insert(
            Attendance,
            "session member status note updated_by updated_at",
            rows,
        )
        return len(rows)

    def packets(self, plans, group_ids) -> int:
        """Handouts for the demo provider's and demo member's sessions from
        today to a week ahead, so "Handouts (PDF)" shows at the first login:
        the module's own handout and one guidance handout that fits it."""
        try:
            lib = load_library()
        except HandoutError:
            return 0  # broken content files: `flask check-handouts` says why
        ids = [
            group_ids[p.name]
            for p in plans
            if p.status == "active"
            and (
                DEMO_PROVIDER in (p.lead, *p.co)
                or DEMO_MEMBER in p.members
                or DEMO_MEMBER in p.late_joiners
            )
        ]
        if not ids:
            return 0
        upcoming = (
            Session.select(Session.id, Group.focus, Module.key)
            .join(Group, on=(Session.group == Group.id))
            .switch(Session)
            .join(Module, on=(Session.module == Module.id))
            .where(
                Session.group.in_(ids),
                Session.status != "cancelled",
                Session.starts_at.between(self.now - datetime.timedelta(hours=12), self.now + WEEK),
            )
            .order_by(Session.starts_at)
        )
        rows = []
        sessions = 0
        for n, (session_id, focus, key) in enumerate(upcoming.tuples()):
            slugs = packet_slugs(lib, key, focus, n)
            rows += [(session_id, slug, position) for position, slug in enumerate(slugs)]
            sessions += bool(slugs)
        insert(PacketItem, "session handout_slug position", rows)
        return sessions

    # ---- The clinical record (docs/clinical-notes.md) ----------------------------

    def diagnosis(self, focus: str) -> str:
        return self.random.choice(DEMO_DIAGNOSES[focus])

    def provider_npis(self) -> None:
        """A valid, made-up NPI for every provider (their charge lines need one)."""
        providers = User.select(User.id).where(User.role == "provider").order_by(User.id)
        for n, (user_id,) in enumerate(providers.tuples()):
            npi = npi_with_check_digit(f"19{n:07d}")
            User.update(npi=npi).where(User.id == user_id).execute()

    def clinical_notes(self, plans, group_ids) -> int:
        """Signed notes and charge lines for past held sessions, as signing would write them.

        Each group's latest held session is left without notes, and every third
        group's one before it keeps drafts, so *Notes due* has something to show.
        """
        from flask import current_app

        config = current_app.config
        ids = list(group_ids.values())
        groups = {g.id: g for g in Group.select().where(Group.id.in_(ids))}
        names = dict(User.select(User.id, User.name).where(User.role == "provider").tuples())
        npis = dict(User.select(User.id, User.npi).where(User.role == "provider").tuples())
        diagnoses = {
            (e.group_id, e.member_id): e.diagnosis_codes
            for e in Enrollment.select(
                Enrollment.group, Enrollment.member, Enrollment.diagnosis_codes
            )
        }
        held = (
            Session.select(Session, Module.title.alias("module_title"))
            .join(Module, JOIN.LEFT_OUTER, on=(Session.module == Module.id))
            .where(Session.group.in_(ids), Session.status == "held", Session.starts_at < self.now)
            .order_by(Session.group, Session.starts_at)
            .objects()
        )
        by_group: dict[int, list] = defaultdict(list)
        for session in held:
            by_group[session.group_id].append(session)
        attending: dict[int, list[int]] = defaultdict(list)
        query = Attendance.select(Attendance.session, Attendance.member).where(
            Attendance.status.in_(("present", "late"))
        )
        for session_id, member_id in query.order_by(Attendance.session, Attendance.member).tuples():
            attending[session_id].append(member_id)
        group_rows, member_rows, draft_rows = [], [], []
        for index, (group_id, sessions) in enumerate(sorted(by_group.items())):
            group = groups[group_id]
            lead = group.lead_id
            telehealth = group.is_telehealth
            for position, session in enumerate(sessions[:-1]):
                present = attending.get(session.id, [])
                signed_at = session.ends_at + datetime.timedelta(hours=2)
                draft = index % 3 == 0 and position == len(sessions) - 2
                title = session.module_title or ""
                group_rows.append(
                    (
                        session.id,
                        title,
                        "module psychoeducation skills_practice homework_review",
                        DEMO_THEMES[position % len(DEMO_THEMES)].format(
                            title=title or "the module"
                        ),
                        DEMO_PROCESS[position % len(DEMO_PROCESS)],
                        session.starts_at,
                        session.ends_at,
                        "telehealth" if telehealth else "in_person",
                        len(present),
                        *signed_record(draft, lead, signed_at, names),
                    )
                )
                for member_id in present:
                    row = self.member_note(session.id, member_id, lead, signed_at, draft, names)
                    (draft_rows if draft else member_rows).append(row)
        insert(
            GroupNote,
            "session module_title intervention_keys themes group_process started_at ended_at"
            " modality present_count" + SIGNED_COLUMNS,
            group_rows,
        )
        columns = (
            "session member participation response progress observations risk_level plan"
            + SIGNED_COLUMNS
        )
        insert(MemberNote, columns, member_rows + draft_rows)
        # One charge line per signed member note, with the codes signing would use.
        sessions_by_id = {s.id: s for ss in by_group.values() for s in ss}
        charges = []
        signed_notes = MemberNote.select(
            MemberNote.id, MemberNote.session, MemberNote.member, MemberNote.signed_at
        ).where(MemberNote.status == "signed")
        for note_id, session_id, member_id, signed_at in signed_notes.tuples():
            session = sessions_by_id[session_id]
            group = groups[session.group_id]
            telehealth = group.is_telehealth
            charges.append(
                (
                    note_id,
                    session_id,
                    member_id,
                    local_date(session.starts_at, group.timezone),
                    diagnoses.get((group.id, member_id), ""),
                    config["CHARGE_CPT"],
                    config["CHARGE_TELEHEALTH_MODIFIERS"] if telehealth else "",
                    config["CHARGE_TELEHEALTH_POS" if telehealth else "CHARGE_IN_PERSON_POS"],
                    1,
                    group.lead_id,
                    npis[group.lead_id],
                    MemberNote.signed_at.python_value(signed_at),
                    self.now,
                )
            )
        insert(
            ChargeLine,
            "member_note session member date_of_service diagnosis_codes cpt modifiers"
            " place_of_service units rendering_provider rendering_npi note_signed_at created_at",
            charges,
        )
        return len(member_rows)

    def member_note(self, session_id, member_id, lead, signed_at, draft, names) -> tuple:
        pick = self.random.choice
        return (
            session_id,
            member_id,
            pick(("active", "active", "prompted", "minimal")),
            pick(("receptive", "receptive", "partial")),
            pick(("progressing", "maintaining", "maintaining", "regressing")),
            pick(DEMO_OBSERVATIONS),
            pick(("none", "none", "none", "low")),
            pick(DEMO_PLANS),
            *signed_record(draft, lead, signed_at, names),
        )


# The columns of SignedRecord, led by a space to follow each note's own columns.
SIGNED_COLUMNS = (
    " status author created_at updated_by updated_at signed_by signed_at signature_name"
)


def signed_record(draft: bool, lead: int, signed_at, names: dict) -> tuple:
    """A demo note's SIGNED_COLUMNS: written by the lead, and signed by them unless a draft."""
    return (
        "draft" if draft else "signed",
        lead,
        signed_at,
        lead,
        signed_at,
        None if draft else lead,
        None if draft else signed_at,
        "" if draft else names[lead],
    )


DEMO_DIAGNOSES = {
    "anxiety": ("F41.1", "F41.1", "F41.0", "F40.10", "F41.1 F32.1"),
    "depression": ("F33.1", "F32.1", "F33.0", "F34.1", "F33.1 F41.1"),
    "adhd": ("F90.2", "F90.0", "F90.0", "F90.2 F41.1"),
}
DEMO_THEMES = (
    "Worked through {title}; members linked it to situations from their week.",
    "{title}: members compared what helped and what got in the way.",
    "Reviewed last week's practice, then {title}.",
)
DEMO_PROCESS = (
    "Members engaged well; quieter members joined in during pair work.",
    "Good cohesion; members offered each other practical suggestions.",
    "Some hesitance early on, more open sharing after the exercise.",
)
DEMO_OBSERVATIONS = (
    "Shared an example from work and tried the skill in session.",
    "Listened closely and asked how to apply the skill at home.",
    "Reported using last week's practice twice; described it as helpful.",
    "Found the exercise difficult but stayed engaged throughout.",
)
DEMO_PLANS = (
    "Continue weekly group; practice the skill daily.",
    "Continue group; review the worksheet at the next session.",
    "Continue group; check in on sleep routine next week.",
)


FALLBACK_GUIDANCE = "what-to-expect-in-group"  # suits any session of any group


def packet_slugs(lib, module_key: str, focus: str, n: int) -> list[str]:
    """The module's own handout, then a guidance handout tagged to the module
    (taking turns by ``n``) or, failing that, what to expect in group."""
    tagged = lib.for_module(module_key)
    own = [h.slug for h in tagged if h.kind == "module"][:1]
    guidance = [h for h in tagged if h.kind == "guidance"] or [
        h for h in lib.for_focus(focus) if h.slug == FALLBACK_GUIDANCE
    ]
    return own + ([guidance[n % len(guidance)].slug] if guidance else [])


def rows_by_group(rows):
    for group_id, member_id, status, _requested, joined_at, withdrawn_at, _r, _by, _dx in rows:
        yield group_id, member_id, status, joined_at, withdrawn_at
