"""The one world builder for tests and benchmarks, and the test client's login.

Builders compose: ``make_user`` makes an account, ``new_group`` a group with
its focus's curriculum (through the service, as a provider would), ``weekly``
its schedule, ``enroll_all`` its members; ``attendance_world`` and
``load_practice`` are those steps put together. ``make_group``,
``add_sessions``, ``add_session`` and ``enroll`` write rows directly, for the
states the services refuse (past or held sessions) and for calendar tests
that need module titles naming the focus.

Call them inside an app context. Benchmarks import this module as
``tests.world`` (the repository root is on their path), and so do the tests,
so there is one copy of it in a pytest run.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass, field

from groups import clock
from groups.clock import utcnow
from groups.db import database
from groups.models import Attendance, CoFacilitator, Enrollment, Group, Module, Session, User
from groups.passwords import hash_password
from groups.services import attendance
from groups.services import enrollment as enrollment_service
from groups.services import groups as group_service
from groups.services import schedule as schedule_service

UTC = datetime.UTC
PASSWORD = "correct horse battery staple"
NOW = datetime.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday
START = datetime.datetime(2026, 1, 5, 14, 0, tzinfo=UTC)  # a Monday
FIRST_DAY = datetime.date(2026, 1, 6)  # a Tuesday

GROUP_DEFAULTS = {
    "name": "Tuesday anxiety group",
    "focus": "anxiety",
    "description": "",
    "capacity": 10,
    "format": "closed",
    "location": "Room 3",
    "timezone": "America/New_York",
    "status": "active",
}

_hashes: dict[str, str] = {}
_numbers = itertools.count(1)


# ---- Accounts and logins ---------------------------------------------------


def password_hash(password: str = PASSWORD) -> str:
    """argon2 is slow on purpose: hash each password once per run."""
    if password not in _hashes:
        _hashes[password] = hash_password(password)
    return _hashes[password]


def make_user(role: str = "member", **fields) -> User:
    """An active account that logs in with ``PASSWORD``: make_user("provider", name="Dr. A")."""
    n = next(_numbers)
    fields.setdefault("email", f"{role}{n}@example.org")
    fields.setdefault("name", f"{role.title()} Person {n}")
    fields.setdefault("password_hash", password_hash())
    return User.create(role=role, **fields)


def login(client, user: User) -> None:
    """Log in without the password form (fast): the session the login view would make."""
    now = utcnow().timestamp()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        session["login_at"] = now
        session["seen_at"] = now


def login_via_form(client, email: str, password: str = PASSWORD, **kwargs):
    return client.post("/login", data={"email": email, "password": password}, **kwargs)


# ---- Groups, sessions and members through the services ---------------------


def new_group(lead: User, co_facilitators=(), **fields) -> Group:
    values = {**GROUP_DEFAULTS, **fields}
    return group_service.create_group(lead, values, list(co_facilitators), by=lead)


def weekly(group: Group, start: datetime.date, count: int = 4, at=datetime.time(18, 0), **kw):
    """Generate a weekly schedule on the start date's weekday."""
    return schedule_service.create_schedule(
        group,
        start_date=start,
        weekday=start.weekday(),
        start_time=at,
        duration_minutes=kw.get("duration_minutes", 90),
        session_count=count,
        by=group.lead,
    )


def enroll_all(group: Group, members, by: User | None = None) -> list[Enrollment]:
    return [enrollment_service.enroll(group, m, by=by or group.lead) for m in members]


# ---- Rows written directly -------------------------------------------------


def make_group(lead: User, name: str = "Tuesday Calm Circle", *, co=(), **fields) -> Group:
    """A group with two modules whose titles name the focus (as real ones do)."""
    fields.setdefault("focus", "anxiety")
    fields.setdefault("location", "Room 2, Riverside clinic")
    fields.setdefault("timezone", "America/Los_Angeles")
    fields.setdefault("status", "active")
    group = Group.create(name=name, lead=lead, **fields)
    for provider in co:
        CoFacilitator.create(group=group, provider=provider)
    focus = fields["focus"]
    for position, title in enumerate((f"Understanding {focus}", f"Living with {focus}"), 1):
        Module.create(group=group, position=position, title=title)
    return group


def add_session(group: Group, starts_at: datetime.datetime, status="scheduled", **fields):
    """A session created directly (for past or held sessions the services refuse)."""
    return Session.create(
        group=group,
        starts_at=starts_at,
        ends_at=starts_at + datetime.timedelta(minutes=90),
        status=status,
        **fields,
    )


def add_sessions(group: Group, first: datetime.datetime, count: int = 3, **fields):
    """``count`` weekly sessions from ``first`` (UTC), modules in order."""
    modules = list(Module.select().where(Module.group == group).order_by(Module.position))
    return [
        add_session(
            group,
            first + datetime.timedelta(weeks=i),
            module=modules[i % len(modules)] if modules else None,
            updated_at=utcnow(),
            **fields,
        )
        for i in range(count)
    ]


def enroll(group: Group, member: User, status: str = "active") -> Enrollment:
    return Enrollment.create(
        group=group,
        member=member,
        status=status,
        joined_at=utcnow() if status == "active" else None,
    )


# ---- An attendance world: members and weekly sessions, the clock at hand ---


@dataclass
class Setup:
    group: Group
    lead: User
    members: list[User]
    clock: object

    def sessions(self) -> list[Session]:
        return list(self.group.sessions_in_order())

    def session(self, n: int) -> Session:
        return self.sessions()[n]

    def at_session(self, n: int) -> Session:
        session = self.session(n)
        self.clock.set(session.starts_at + datetime.timedelta(minutes=20))
        return session

    def mark(self, n: int, statuses: dict[User, str] | str, notes=None) -> Session:
        """Save attendance for session n through the service (moves the clock there)."""
        session = self.at_session(n)
        if isinstance(statuses, str):
            statuses = {m: statuses for m in self.members}
        entries = attendance.roster(session)
        attendance.save_roster(
            session,
            {m.id: s for m, s in statuses.items()},
            {m.id: t for m, t in (notes or {}).items()},
            attendance.version_token(entries),
            by=self.lead,
        )
        return session

    def modules(self) -> list[Module]:
        return list(self.group.modules_in_order())


def attendance_world(
    frozen_time,
    *,
    members: int = 3,
    sessions: int = 4,
    fmt: str = "closed",
    modules: int | None = None,
    names: list[str] | None = None,
    lead: User | None = None,
) -> Setup:
    """A group whose members joined before its first session (time is frozen
    before the schedule is made); ``at_session(n)`` moves the clock into session n."""
    frozen_time.set(START)
    lead = lead or make_user("provider", name="Dr. Lead")
    group = new_group(lead, capacity=12, format=fmt)
    if modules is not None:
        for module in list(group.modules_in_order())[modules:]:
            module.delete_instance()
    names = names or [f"Member {chr(65 + i)}" for i in range(members)]
    people = [make_user("member", name=name) for name in names]
    enroll_all(group, people, by=lead)
    weekly(group, FIRST_DAY, count=sessions)
    return Setup(group=Group.get_by_id(group.id), lead=lead, members=people, clock=frozen_time)


# ---- The load run's practice -----------------------------------------------

WEEKS_BACK = 21


@dataclass
class LoadWorld:
    admin_email: str
    provider_email: str
    attendance_group: int
    attendance_sessions: list[int]  # past sessions of the attendance group, oldest first
    roster: list[int]  # member ids on every one of those sessions
    member_emails: list[str]  # the roster's members
    enroll_groups: dict[int, int]  # open groups to enroll into: id -> capacity
    spare_emails: list[str]  # members in no group yet
    feed_tokens: dict[str, str] = field(default_factory=dict)  # member email -> token
    password: str = PASSWORD


def load_practice(
    prefix: str = "load",
    *,
    roster_size: int = 12,
    enroll_groups: int = 3,
    enroll_capacity: int = 6,
    spares: int = 200,
    feed_tokens: int = 12,
    password: str = PASSWORD,
) -> LoadWorld:
    """A small, known practice for the load run and the fault tests.

    The attendance group is built with the clock set back 21 weeks, so it has a
    run of past sessions whose rosters hold all ``roster_size`` members; the
    load run and the crash test then know exactly which writes they make and
    can check every one afterwards. Accounts log in with ``password``.
    """
    from groups.services import feeds

    now = utcnow()
    then = now - datetime.timedelta(weeks=WEEKS_BACK)

    def user(role: str, email: str, name: str) -> User:
        return make_user(role, email=email, name=name, password_hash=password_hash(password))

    with database.atomic():
        admin = user("admin", f"{prefix}-admin@example.org", "Load Admin")
        provider = user("provider", f"{prefix}-provider@example.org", "Dr. Load Provider")
        members = [
            user("member", f"{prefix}-member-{i:02d}@example.org", f"Member {i:02d} Load")
            for i in range(1, roster_size + 1)
        ]
        spare = [
            user("member", f"{prefix}-spare-{i:03d}@example.org", f"Spare {i:03d} Load")
            for i in range(1, spares + 1)
        ]

    def open_group(name: str, capacity: int) -> Group:
        return new_group(provider, name=name, capacity=capacity, format="open", location="Room 4")

    clock.frozen_at = then  # build the attendance group as if 21 weeks ago
    try:
        main = open_group(f"{prefix.title()} Tuesday group", roster_size)
        weekly(main, (then + datetime.timedelta(days=1)).date(), WEEKS_BACK + 4, datetime.time(9))
        enroll_all(main, members, by=provider)
    finally:
        clock.frozen_at = None

    targets = {}
    for i in range(enroll_groups):
        group = open_group(f"{prefix.title()} open group {i + 1}", enroll_capacity)
        # One provider runs them all: each meets on its own day, as the
        # schedule refuses to double-book a provider.
        weekly(
            group,
            (now + datetime.timedelta(days=2 + i)).date(),
            8,
            datetime.time(17),
            duration_minutes=60,
        )
        targets[group.id] = enroll_capacity

    past = [
        s.id
        for s in Session.select()
        .where(Session.group == main, Session.ends_at < now, Session.status != "cancelled")
        .order_by(Session.starts_at)
    ]
    world = LoadWorld(
        admin_email=admin.email,
        provider_email=provider.email,
        attendance_group=main.id,
        attendance_sessions=past,
        roster=[m.id for m in members],
        member_emails=[m.email for m in members],
        enroll_groups=targets,
        spare_emails=[m.email for m in spare],
        password=password,
    )
    for member in members[:feed_tokens]:
        world.feed_tokens[member.email] = feeds.issue_token(member)
    assert Enrollment.select().where(Enrollment.group == main).count() == roster_size
    return world


# ---- The clinical record: a held session with its members' attendance -------

# Valid NPIs (check digit on the 80840 prefix), for the lead and a co-facilitator.
LEAD_NPI, CO_NPI = "1234567893", "1558598797"
NOTE_FIRST_NAMES = (
    "Avery Blake Casey Dana Emery Finley Greer Harper Indigo Jules Kai Logan Morgan".split()
)
NOTE_LAST_NAMES = (
    "Nolan Ortiz Pryce Quinn Reyes Santos Tanaka Upton Vance Walsh Yoder Zimmer Abbott".split()
)


@dataclass
class NotesWorld:
    lead: User
    co: User | None
    group: Group
    session: Session
    members: list[User]  # recorded present
    absent_members: list[User]
    admin: User

    def member_section(self, member: User, **fields):
        """A complete progress note draft for ``member`` (ready to sign)."""
        from groups.services.clinical_notes import MemberSection

        values = {
            "participation": "active",
            "response": "receptive",
            "progress": "progressing",
            "observations": "Practiced the breathing exercise and described using it at work.",
            "risk_level": "none",
            "plan": "Continue weekly group; practice daily.",
        }
        return MemberSection(**{**values, **fields})

    def group_section(self, **fields):
        from groups.services.clinical_notes import GroupSection

        values = {
            "intervention_keys": ["module", "psychoeducation"],
            "themes": "Noticing early signs of worry.",
            "group_process": "Members supported each other's practice.",
        }
        return GroupSection(**{**values, **fields})

    def write_all(self, by: User | None = None) -> None:
        """Save a complete draft of the group note and every present member's note."""
        from groups.services import clinical_notes

        clinical_notes.save_draft(
            self.session,
            group=self.group_section(),
            members={m.id: self.member_section(m) for m in self.members},
            by=by or self.lead,
        )

    def sign_all(self, by: User | None = None):
        from groups.services import clinical_notes

        by = by or self.lead
        return clinical_notes.sign_notes(
            self.session, signature_name=by.name, password=PASSWORD, by=by
        )


def notes_world(
    present: int = 8,
    *,
    absent: int = 0,
    telehealth: bool = False,
    co: bool = False,
    signed: bool = False,
    late: int = 0,
) -> NotesWorld:
    """A group whose session two days ago was held: ``present`` members attended
    (the last ``late`` of them late), ``absent`` did not. Every enrollment carries
    a diagnosis and the providers an NPI. ``signed`` writes and signs every note."""
    lead = make_user("provider", name="Dr. Robin Lead", npi=LEAD_NPI)
    co_provider = make_user("provider", name="Dr. Sam Cofac", npi=CO_NPI) if co else None
    admin = make_user("admin", name="Alex Admin")
    location = "https://video.example.org/room-7" if telehealth else "Room 4"
    group = make_group(lead, co=[co_provider] if co_provider else (), location=location)
    module = Module.select().where(Module.group == group).order_by(Module.position).first()
    starts = utcnow().replace(second=0, microsecond=0) - datetime.timedelta(days=2)
    session = add_session(group, starts, status="held", module=module)
    people = []
    for i in range(present + absent):
        first = NOTE_FIRST_NAMES[i % len(NOTE_FIRST_NAMES)]
        last = NOTE_LAST_NAMES[(i // len(NOTE_FIRST_NAMES) + i) % len(NOTE_LAST_NAMES)]
        member = make_user("member", name=f"{first} {last}")
        enrollment = enroll(group, member)
        enrollment.diagnosis_codes = "F41.1" if i % 2 else "F41.1 F32.1"
        enrollment.requested_at = enrollment.joined_at = starts - datetime.timedelta(days=14)
        enrollment.save()
        people.append(member)
    for i, member in enumerate(people):
        if i < present:
            status = "late" if i >= present - late else "present"
        else:
            status = "absent" if (i - present) % 2 == 0 else "excused"
        Attendance.create(session=session, member=member, status=status, updated_by=lead)
    world = NotesWorld(
        lead=lead,
        co=co_provider,
        group=Group.get_by_id(group.id),
        session=Session.select(Session, Group).join(Group).where(Session.id == session.id).get(),
        members=people[:present],
        absent_members=people[present:],
        admin=admin,
    )
    if signed:
        world.write_all()
        world.sign_all()
    return world
