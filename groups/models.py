"""peewee models and their query vocabulary.

Times are stored in UTC (``UTCDateTimeField``); dates without a time (a
closure, a schedule's start date) are plain dates in the group's or the
practice's own zone.
"""

from __future__ import annotations

import datetime
import secrets

from peewee import (
    SQL,
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
    TimeField,
    fn,
)

from . import clock
from .clock import utcnow
from .db import UTCDateTimeField, database

ROLES = ("admin", "provider", "member")
FOCUSES = ("anxiety", "depression", "adhd")
FOCUS_LABELS = {"anxiety": "Anxiety", "depression": "Depression", "adhd": "ADHD"}
GROUP_FORMATS = ("closed", "open")
GROUP_STATUSES = ("draft", "active", "completed", "archived")
SESSION_STATUSES = ("scheduled", "held", "cancelled")
ENROLLMENT_STATUSES = ("active", "waitlisted", "withdrawn")
ATTENDANCE_STATUSES = ("present", "late", "absent", "excused")
# The longest note on one member's attendance row (the column's own length).
ATTENDANCE_NOTE_MAX = 500
# The longest private session note; the column is unbounded text, so this is the app's limit.
SESSION_NOTE_MAX = 2000
MAIL_STATUSES = ("pending", "sending", "sent", "failed")
# Attendance opens this long before a session starts, so the roll can be taken as
# members arrive; before that, nothing can be recorded (see Session.attendance_open).
ATTENDANCE_OPENS_BEFORE = datetime.timedelta(minutes=15)


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class AppendOnly:
    """Rows are inserted, never changed or removed: every other write raises.

    A mixin before ``BaseModel``; the class names its refusal in ``append_only_error``.
    """

    append_only_error = "rows are append-only"

    def save(self, *args, **kwargs):
        if self.id is not None and not kwargs.get("force_insert"):
            raise PermissionError(self.append_only_error)
        return super().save(*args, **kwargs)

    def delete_instance(self, *args, **kwargs):
        raise PermissionError(self.append_only_error)

    @classmethod
    def update(cls, *args, **kwargs):
        raise PermissionError(cls.append_only_error)

    @classmethod
    def delete(cls):
        raise PermissionError(cls.append_only_error)


def name_order(name: str, ident: int) -> tuple[str, int]:
    """The one order for people on every list: name ignoring case, then id.

    The id keeps namesakes in a stable order. Lists sorted in Python use this
    key; queries use :meth:`User.by_name`, which orders the same way.
    """
    return (name.lower(), ident)


class User(BaseModel):
    email = CharField(unique=True)
    name = CharField()
    role = CharField(choices=[(r, r) for r in ROLES])
    active = BooleanField(default=True)
    timezone = CharField(default="America/New_York")
    password_hash = CharField(null=True)
    # Rotated on logout, deactivation and password change: every signed
    # cookie carrying the old value stops working at once.
    session_token = CharField(default=new_session_token)
    feed_token_hash = CharField(null=True, unique=True)
    feed_shows_group_names = BooleanField(default=False)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)
    # Profile: "12h" or "24h"; null follows the practice's TIME_FORMAT.
    time_format = CharField(null=True)
    remind_sessions = BooleanField(default=True)
    notify_changes = BooleanField(default=True)  # cancellation, move and place-change notices
    reminder_hours = IntegerField(default=24)
    # Two-factor sign-in (groups/services/accounts.py). The secret is set at the
    # start of enrollment and counts only once a code confirmed it
    # (two_factor_since). Never logged or audited.
    totp_secret = CharField(null=True)
    two_factor_since = UTCDateTimeField(null=True)
    # The last accepted TOTP time step: a code of this step or an earlier one is
    # refused, so an overheard code cannot be used again within its window.
    totp_last_step = BigIntegerField(null=True)
    # sha256 digests of the unused recovery codes, space separated.
    recovery_code_hashes = TextField(default="")
    # A provider's National Provider Identifier (10 digits, checked with
    # groups/clinical/codes.py); the rendering NPI on their charge lines.
    npi = CharField(null=True)

    # flask-login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    def rotate_session_token(self) -> None:
        self.session_token = new_session_token()

    @property
    def two_factor_enabled(self) -> bool:
        return self.two_factor_since is not None

    @property
    def two_factor_pending(self) -> bool:
        """Enrollment started (a secret exists) but no code has confirmed it yet."""
        return self.totp_secret is not None and self.two_factor_since is None

    @property
    def is_staff(self) -> bool:
        return self.role in ("admin", "provider")

    def recovery_codes_left(self) -> int:
        return len(self.recovery_code_hashes.split())

    def clock_format(self, practice_default: str) -> str:
        """ "12h" or "24h": the person's own choice, else the practice's."""
        return self.time_format or practice_default

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def is_provider(self) -> bool:
        return self.role == "provider"

    @property
    def is_member(self) -> bool:
        return self.role == "member"

    @classmethod
    def by_name(cls) -> tuple:
        """ORDER BY terms for people in :func:`name_order`'s order."""
        return (fn.LOWER(cls.name), cls.id)

    @classmethod
    def by_email(cls, email: str) -> User | None:
        return cls.get_or_none(cls.email == normalize_email(email))

    @classmethod
    def providers(cls):
        return cls.select().where(cls.role == "provider", cls.active).order_by(*cls.by_name())

    @classmethod
    def members(cls):
        return cls.select().where(cls.role == "member").order_by(*cls.by_name())


def normalize_email(email: str) -> str:
    return (email or "").strip().lower()


class LoginAttempt(BaseModel):
    """One login try; recent failures drive throttling across workers and hosts."""

    email = CharField(index=True)
    ip = CharField(index=True)
    succeeded = BooleanField()
    at = UTCDateTimeField(default=utcnow, index=True)


class SetPasswordToken(BaseModel):
    user = ForeignKeyField(User, backref="set_password_tokens", on_delete="CASCADE")
    token_hash = CharField(unique=True)
    created_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    created_at = UTCDateTimeField(default=utcnow)
    expires_at = UTCDateTimeField()
    used_at = UTCDateTimeField(null=True)

    @classmethod
    def revoke_open(cls, user, now, *, keep_id: int | None = None) -> int:
        """End every unused, unexpired link of ``user`` (but ``keep_id``) now.

        Only the newest link a person was given may work: an older one handed
        to the wrong person must not take over the account. Revoked links
        expire rather than count as used, so the audit of who used a link stays
        true.
        """
        query = cls.update(expires_at=now).where(
            cls.user == user, cls.used_at.is_null(), cls.expires_at > now
        )
        if keep_id is not None:
            query = query.where(cls.id != keep_id)
        return query.execute()


class AuditLog(AppendOnly, BaseModel):
    """Append-only: rows are inserted, never changed or removed."""

    at = UTCDateTimeField(default=utcnow, index=True)
    actor = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    actor_label = CharField(default="")
    action = CharField(index=True)
    target_type = CharField(default="")
    target_id = IntegerField(null=True)
    detail = TextField(default="")
    ip = CharField(default="")

    append_only_error = "the audit log is append-only"


class Closure(BaseModel):
    """A practice-wide closed day (holiday); generated sessions skip it."""

    date = DateField(unique=True)
    reason = CharField(default="")
    created_at = UTCDateTimeField(default=utcnow)


class Group(BaseModel):
    name = CharField()
    focus = CharField(choices=[(f, f) for f in FOCUSES])
    description = TextField(default="")
    lead = ForeignKeyField(User, backref="led_groups", on_delete="RESTRICT")
    capacity = IntegerField(default=10)
    format = CharField(default="closed", choices=[(f, f) for f in GROUP_FORMATS])
    location = CharField(default="")
    timezone = CharField(default="America/New_York")
    status = CharField(default="draft", choices=[(s, s) for s in GROUP_STATUSES])
    # The schedule the sessions were generated from (null until one is set).
    start_date = DateField(null=True)
    weekday = IntegerField(null=True)  # 0 = Monday
    start_time = TimeField(null=True)
    duration_minutes = IntegerField(null=True)
    session_count = IntegerField(null=True)
    created_at = UTCDateTimeField(default=utcnow)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "therapy_group"

    @property
    def is_telehealth(self) -> bool:
        """A video link rather than a room: forms accept only http(s) links as URLs."""
        return self.location.strip().lower().startswith(("http://", "https://"))

    # Time in the group's own zone ------------------------------------------

    def local(self, value: datetime.datetime | None) -> datetime.datetime | None:
        """A stored UTC time as wall-clock time in the group's zone."""
        return clock.to_local(value, self.timezone)

    def today(self) -> datetime.date:
        """Today's date where the group meets."""
        return clock.today_in(self.timezone)

    # Its rows, in their one order --------------------------------------------

    def sessions_in_order(self, *columns):
        """The group's sessions, oldest first (ties by id)."""
        return Session.in_order(*columns).where(Session.group == self)

    def modules_in_order(self, *columns):
        """The group's curriculum modules by position."""
        return Module.in_order(*columns).where(Module.group == self)


class CoFacilitator(BaseModel):
    group = ForeignKeyField(Group, backref="co_facilitators", on_delete="CASCADE")
    provider = ForeignKeyField(User, backref="co_facilitated", on_delete="CASCADE")

    class Meta:
        indexes = ((("group", "provider"), True),)


class InGroupOrder:
    """Rows of a group kept in an order (``in_order``): modules, sessions."""

    @classmethod
    def by_group(cls, group_ids) -> dict[int, list]:
        """Each group's rows in order, for several groups in one query."""
        found: dict[int, list] = {gid: [] for gid in group_ids}
        if found:
            for row in cls.in_order().where(cls.group.in_(list(found))):
                found[row.group_id].append(row)
        return found


class Module(InGroupOrder, BaseModel):
    """One curriculum module of one group, in order."""

    group = ForeignKeyField(Group, backref="modules", on_delete="CASCADE")
    position = IntegerField()
    key = CharField(default="")  # the default curriculum's key; "" for a custom module
    title = CharField()
    purpose = TextField(default="")

    class Meta:
        indexes = ((("group", "position"), False),)

    @classmethod
    def in_order(cls, *columns):
        return cls.select(*columns).order_by(cls.position, cls.id)


class Session(InGroupOrder, BaseModel):
    group = ForeignKeyField(Group, backref="sessions", on_delete="CASCADE")
    module = ForeignKeyField(Module, null=True, backref="sessions", on_delete="SET NULL")
    starts_at = UTCDateTimeField(index=True)
    ends_at = UTCDateTimeField()
    status = CharField(default="scheduled", choices=[(s, s) for s in SESSION_STATUSES])
    cancel_reason = CharField(default="")
    is_makeup = BooleanField(default=False)
    # Rises on every change of time, place or status (calendar SEQUENCE).
    revision = IntegerField(default=0)
    packet_shows_focus = BooleanField(default=False)
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        table_name = "group_session"
        indexes = ((("group", "starts_at"), False),)

    @classmethod
    def in_order(cls, *columns):
        return cls.select(*columns).order_by(cls.starts_at, cls.id)

    @classmethod
    def of_active_member(cls, member, *columns):
        """``in_order`` for the sessions of every group ``member`` is active in, joined to
        their Enrollment (select its columns to read them); ``switch(Session)`` to join on."""
        return cls.in_order(*columns).join(
            Enrollment,
            on=(Enrollment.group == cls.group)
            & (Enrollment.member == member)
            & (Enrollment.status == "active"),
        )

    # Attendance and "held" ----------------------------------------------------
    # Saving attendance marks a session held, and that may happen in the
    # minutes before it starts. Rates, pacing and progress count a session as
    # held only once it has started, so nothing reads as covered or missed
    # while the member's schedule still lists the session as upcoming.

    @staticmethod
    def attendance_opening(starts_at: datetime.datetime) -> datetime.datetime:
        """When attendance opens for a session starting at ``starts_at``."""
        return starts_at - ATTENDANCE_OPENS_BEFORE

    def attendance_opens_at(self) -> datetime.datetime:
        return Session.attendance_opening(self.starts_at)

    def attendance_open(self, now: datetime.datetime | None = None) -> bool:
        """Can attendance be recorded now? Never for a cancelled session or before the opening."""
        return self.status != "cancelled" and (now or utcnow()) >= self.attendance_opens_at()

    def counts_as_held(self, now: datetime.datetime | None = None) -> bool:
        """Held for rates, pacing and progress: attendance taken and the session started."""
        return self.status == "held" and self.starts_at <= (now or utcnow())

    @classmethod
    def held_by(cls, now: datetime.datetime):
        """``counts_as_held`` as a query condition."""
        return (cls.status == "held") & (cls.starts_at <= now)

    # The one way to say "this session changed for calendars": every write
    # that changes what a calendar shows of a session goes through these.
    # The calendar store (CalendarEvent) keys each kept VEVENT on the pair
    # they raise, so a change made here makes every kept copy stale at once,
    # in the same transaction, for every worker and host.

    def calendar_changed(self) -> None:
        """Raise SEQUENCE and LAST-MODIFIED of this session (the caller saves)."""
        self.revision += 1
        self.updated_at = utcnow()

    @classmethod
    def calendar_changed_where(cls, *conditions) -> int:
        """Raise SEQUENCE and LAST-MODIFIED of every session matching ``conditions``."""
        return (
            cls.update(revision=cls.revision + 1, updated_at=utcnow()).where(*conditions).execute()
        )


class Enrollment(BaseModel):
    """A member's place in a group; withdrawn rows stay as history."""

    group = ForeignKeyField(Group, backref="enrollments", on_delete="CASCADE")
    member = ForeignKeyField(User, backref="enrollments", on_delete="CASCADE")
    status = CharField(choices=[(s, s) for s in ENROLLMENT_STATUSES])
    requested_at = UTCDateTimeField(default=utcnow)  # waitlist order (FIFO)
    joined_at = UTCDateTimeField(null=True)  # became active
    withdrawn_at = UTCDateTimeField(null=True)
    withdraw_reason = CharField(default="")
    created_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    # The member's diagnoses for this group: ICD-10-CM codes, space separated,
    # primary first (groups/clinical/codes.py checks the format).
    diagnosis_codes = CharField(default="")

    class Meta:
        indexes = ((("group", "status", "requested_at"), False),)

    @property
    def diagnoses(self) -> tuple[str, ...]:
        return tuple(self.diagnosis_codes.split())

    @classmethod
    def active_in(cls, group):
        """Enrollments holding a seat in ``group``: status active, account active.

        A deactivated account is not an active member, whatever its
        enrollment says: it neither counts against capacity on pages nor
        receives a copy of a packet.
        """
        return (
            cls.select(cls, User)
            .join(User, on=(cls.member == User.id))
            .where(cls.group == group, cls.status == "active", User.active)
            .order_by(*User.by_name())
        )

    @classmethod
    def group_ids_of(cls, member, statuses=("active",)):
        """A subquery: ids of the groups ``member`` is enrolled in with one of ``statuses``."""
        return cls.select(cls.group).where(cls.member == member, cls.status.in_(statuses))


# At most one current (active or waitlisted) enrollment per group and member;
# the database enforces it, so a double submit cannot create a second row.
Enrollment.add_index(
    Enrollment.index(
        Enrollment.group, Enrollment.member, unique=True, name="enrollment_current"
    ).where(SQL("status IN ('active', 'waitlisted')"))
)


class Attendance(BaseModel):
    session = ForeignKeyField(Session, backref="attendance", on_delete="CASCADE")
    member = ForeignKeyField(User, backref="attendance", on_delete="CASCADE")
    status = CharField(choices=[(s, s) for s in ATTENDANCE_STATUSES])
    note = CharField(default="", max_length=ATTENDANCE_NOTE_MAX)
    updated_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    updated_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("session", "member"), True),)


class SessionNote(BaseModel):
    """A provider's private note on a session: never shown to members or exported."""

    session = ForeignKeyField(Session, backref="notes", unique=True, on_delete="CASCADE")
    text = TextField(default="")
    updated_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    updated_at = UTCDateTimeField(default=utcnow)


class CatchUpDone(BaseModel):
    """A missed module a provider has reviewed with the member."""

    group = ForeignKeyField(Group, backref="+", on_delete="CASCADE")
    member = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    module = ForeignKeyField(Module, backref="+", on_delete="CASCADE")
    done_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    done_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = ((("group", "member", "module"), True),)


class PacketItem(BaseModel):
    """A handout a provider picked for a session's packet."""

    session = ForeignKeyField(Session, backref="packet_items", on_delete="CASCADE")
    handout_slug = CharField()
    position = IntegerField(default=0)

    class Meta:
        indexes = ((("session", "handout_slug"), True),)


class CalendarEvent(BaseModel):
    """The calendar store: a session's serialised VEVENT, one per privacy variant.

    A row is current while ``revision`` and ``updated_at`` equal its
    session's and ``built_for`` names the running builder and base URL;
    otherwise the feed builds the VEVENT again and overwrites the row
    (services/feeds.py). Nothing else writes here, and nothing needs to
    delete rows: a session's removal takes its rows along (cascade).
    """

    session = ForeignKeyField(Session, backref="+", on_delete="CASCADE")
    variant = CharField()
    revision = IntegerField()
    updated_at = UTCDateTimeField()
    built_for = CharField()
    body = TextField()

    class Meta:
        indexes = ((("session", "variant"), True),)


class ChangeCounter(BaseModel):
    """Changes counted by database triggers (migrations 0003, 0004), never written by the app.

    ``calendar`` rises with every committed change to a group, session,
    module, enrollment or co-facilitator (the rows calendars are built
    from), and ``changed_at`` takes the database's time of that change.
    """

    name = CharField(primary_key=True)
    value = BigIntegerField(default=0)
    changed_at = UTCDateTimeField()


class OutboxMessage(BaseModel):
    """One email the practice sends, written in the transaction of its cause (groups/mail).

    ``key`` is the idempotency key: the database refuses a second row for
    one logical message. ``status`` moves pending -> sending (claimed by one
    dispatcher until ``claimed_until``) -> sent, or back to pending with a
    later ``next_attempt_at``, or to failed after the last attempt.
    ``last_error`` names the failure only (exception and SMTP code), never
    an address or a body.
    """

    key = CharField(unique=True)
    kind = CharField(index=True)
    recipient = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    to_address = CharField()
    to_name = CharField(default="")
    subject = CharField()
    text_body = TextField()
    html_body = TextField(default="")
    unsubscribe_url = CharField(default="")
    message_id = CharField()
    status = CharField(default="pending", choices=[(s, s) for s in MAIL_STATUSES])
    attempts = IntegerField(default=0)
    next_attempt_at = UTCDateTimeField(default=utcnow)
    last_error = CharField(default="")
    created_at = UTCDateTimeField(default=utcnow, index=True)
    sent_at = UTCDateTimeField(null=True)
    claimed_by = CharField(default="")
    claimed_until = UTCDateTimeField(null=True)

    class Meta:
        # The dispatcher's question: which messages are due, oldest first.
        indexes = ((("status", "next_attempt_at"), False),)

    @classmethod
    def due(cls, now: datetime.datetime):
        """Messages a dispatcher may claim: pending and due, or left behind by an expired claim."""
        waiting = (cls.status == "pending") & (cls.next_attempt_at <= now)
        abandoned = (cls.status == "sending") & (cls.claimed_until < now)
        return cls.select().where(waiting | abandoned).order_by(cls.next_attempt_at, cls.id)

    @classmethod
    def is_queued(cls, key: str) -> bool:
        return cls.select().where(cls.key == key).exists()

    @property
    def can_retry(self) -> bool:
        return self.status == "failed"

    def retry_now(self) -> None:
        """Give a failed message a fresh set of attempts, due at once (the caller saves)."""
        self.status = "pending"
        self.attempts = 0
        self.next_attempt_at = utcnow()


# ---- Outcomes: measure plans, answers and safety alerts (docs/outcomes.md) ----

# When a group asks its members for measures, besides the baseline (the
# member's first session) and the group's final session.
MEASURE_CADENCES = ("every_session", "every_other_session", "every_four_weeks", "baseline_and_end")
CADENCE_LABELS = {
    "every_session": "Every session",
    "every_other_session": "Every other session",
    "every_four_weeks": "Every four weeks",
    "baseline_and_end": "First and final session only",
}
RESPONSE_SOURCES = ("checkin", "paper", "import")
SOURCE_LABELS = {
    "checkin": "Member check-in",
    "paper": "Paper, entered by staff",
    "import": "Import",
}
ALERT_STATUSES = ("open", "acknowledged", "resolved")
ALERT_NOTE_MAX = 2000


class MeasurePlan(BaseModel):
    """Which measures a group asks for, and when; a group without a row uses its focus's default."""

    group = ForeignKeyField(Group, backref="+", unique=True, on_delete="CASCADE")
    measure_codes = CharField()  # space separated measure codes, in the order asked
    cadence = CharField(choices=[(c, c) for c in MEASURE_CADENCES])
    member_sees_history = BooleanField(default=False)
    updated_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    updated_at = UTCDateTimeField(default=utcnow)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(self.measure_codes.split())


class MeasureResponse(BaseModel):
    """One completed measure: the item scores as given, their total and band.

    ``session`` is the session whose request it answers (null for an import
    or a paper form not tied to a session). A member answers a measure once
    per session: the unique ``(member, session, measure)`` index backs it.
    Rows without a session are unique per ``(member, group, measure,
    completed_at)``, so importing the same file twice is refused.
    """

    member = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    group = ForeignKeyField(Group, backref="+", on_delete="CASCADE")
    session = ForeignKeyField(Session, null=True, backref="+", on_delete="SET NULL")
    measure = CharField()  # the measure's code
    measure_version = CharField(default="")
    answers = CharField()  # the item scores in item order, space separated
    total = IntegerField()
    band = CharField()  # the band's key
    completed_at = UTCDateTimeField()
    source = CharField(choices=[(s, s) for s in RESPONSE_SOURCES])
    entered_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    created_at = UTCDateTimeField(default=utcnow)

    class Meta:
        indexes = (
            (("member", "session", "measure"), True),
            (("member", "group", "measure", "completed_at"), True),
            (("group", "completed_at"), False),
        )

    @property
    def scores(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.answers.split())


class SafetyAlert(BaseModel):
    """A positive safety item: open until acknowledged, then resolved with a note."""

    member = ForeignKeyField(User, backref="+", on_delete="CASCADE")
    group = ForeignKeyField(Group, backref="+", on_delete="CASCADE")
    raised_at = UTCDateTimeField()
    status = CharField(default="open", choices=[(s, s) for s in ALERT_STATUSES])
    acknowledged_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    acknowledged_at = UTCDateTimeField(null=True)
    resolved_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    resolved_at = UTCDateTimeField(null=True)
    resolution_note = TextField(default="")
    last_notified_at = UTCDateTimeField(null=True)
    notice_rounds = IntegerField(default=0)  # how many times staff were notified

    class Meta:
        indexes = ((("status", "raised_at"), False), (("member", "group", "status"), False))

    @property
    def is_open(self) -> bool:
        return self.status == "open"


class SafetyAlertResponse(BaseModel):
    """The positive answers behind an alert: the first one and any repeat attached to it."""

    alert = ForeignKeyField(SafetyAlert, backref="responses", on_delete="CASCADE")
    response = ForeignKeyField(MeasureResponse, backref="+", unique=True, on_delete="CASCADE")


# ---- The clinical record: group notes, member progress notes, addenda, charges ----
# (docs/clinical-notes.md). Unlike SessionNote (the HIPAA psychotherapy note,
# private to the provider), these are the chart: printed for the record and
# the source of charge lines. A signed note is never changed: later words are
# addenda. Clinical rows refer to sessions and people with RESTRICT, so
# removing a session or an account can never take a signed record with it.

NOTE_STATUSES = ("draft", "signed")
MODALITIES = ("in_person", "telehealth")
MODALITY_LABELS = {"in_person": "In person", "telehealth": "Telehealth (video)"}
RISK_LEVELS = ("none", "low", "moderate", "high")
RISK_LABELS = {"none": "None", "low": "Low", "moderate": "Moderate", "high": "High"}
PARTICIPATION_LEVELS = {
    "active": "Active, contributed without prompting",
    "prompted": "Took part when invited",
    "minimal": "Minimal, mostly listened",
    "disruptive": "Disruptive or off task",
}
RESPONSE_LEVELS = {
    "receptive": "Receptive, practiced the skill",
    "partial": "Partly engaged with the skill",
    "resistant": "Resistant or unable to engage",
}
PROGRESS_LEVELS = {
    "progressing": "Progressing toward goals",
    "maintaining": "Maintaining",
    "regressing": "Regressing",
}
# The longest free text in one field of a note or an addendum (the columns are unbounded).
NOTE_TEXT_MAX = 4000


class SignedRecord(BaseModel):
    """Draft or signed; a signed row is read-only (services/clinical_notes.py enforces it).

    The columns both kinds of note share; each subclass is its own table.
    """

    status = CharField(default="draft", choices=[(s, s) for s in NOTE_STATUSES])
    author = ForeignKeyField(User, backref="+", on_delete="RESTRICT")
    created_at = UTCDateTimeField(default=utcnow)
    updated_by = ForeignKeyField(User, null=True, backref="+", on_delete="SET NULL")
    updated_at = UTCDateTimeField(default=utcnow)
    signed_by = ForeignKeyField(User, null=True, backref="+", on_delete="RESTRICT")
    signed_at = UTCDateTimeField(null=True)
    signature_name = CharField(default="")

    @property
    def is_signed(self) -> bool:
        return self.status == "signed"


class GroupNote(SignedRecord):
    """The group section of a held session's record: one per session."""

    session = ForeignKeyField(Session, backref="+", unique=True, on_delete="RESTRICT")
    module_title = CharField(default="")  # the module's title when the note was started
    # Checklist keys (space separated) chosen from the module's interventions,
    # plus what else was used, in the provider's words.
    intervention_keys = CharField(default="")
    interventions_other = TextField(default="")
    themes = TextField(default="")
    group_process = TextField(default="")
    started_at = UTCDateTimeField()
    ended_at = UTCDateTimeField()
    modality = CharField(choices=[(m, m) for m in MODALITIES])
    present_count = IntegerField(default=0)  # present or late, from attendance

    @property
    def interventions(self) -> tuple[str, ...]:
        return tuple(self.intervention_keys.split())


class MemberNote(SignedRecord):
    """A progress note for one member recorded present or late at one session."""

    session = ForeignKeyField(Session, backref="+", on_delete="RESTRICT")
    member = ForeignKeyField(User, backref="+", on_delete="RESTRICT")
    participation = CharField(default="")  # a PARTICIPATION_LEVELS key; "" until chosen
    response = CharField(default="")  # a RESPONSE_LEVELS key
    progress = CharField(default="")  # a PROGRESS_LEVELS key
    observations = TextField(default="")  # participation, response and progress in words
    risk_level = CharField(default="none", choices=[(r, r) for r in RISK_LEVELS])
    risk_text = TextField(default="")
    plan = TextField(default="")
    # The member's latest measure scores when the note was last saved, as
    # JSON: [{"measure", "title", "total", "band", "completed_at"}].
    scores_snapshot = TextField(default="[]")
    # Co-signature by the group's lead when a co-facilitator signed.
    cosigned_by = ForeignKeyField(User, null=True, backref="+", on_delete="RESTRICT")
    cosigned_at = UTCDateTimeField(null=True)
    cosignature_name = CharField(default="")
    # Why the text names another member and was signed anyway (audited).
    name_check_reason = TextField(default="")

    class Meta:
        indexes = ((("session", "member"), True), (("member", "session"), False))

    @classmethod
    def signed_member_ids(cls, session) -> set[int]:
        """Members whose progress note for ``session`` is signed (their attendance is settled)."""
        query = cls.select(cls.member).where(cls.session == session, cls.status == "signed")
        return {row.member_id for row in query}


class NoteAddendum(AppendOnly, BaseModel):
    """A signed addition to a signed note (either kind). Append-only."""

    group_note = ForeignKeyField(GroupNote, null=True, backref="addenda", on_delete="RESTRICT")
    member_note = ForeignKeyField(MemberNote, null=True, backref="addenda", on_delete="RESTRICT")
    text = TextField()
    signed_by = ForeignKeyField(User, backref="+", on_delete="RESTRICT")
    signed_at = UTCDateTimeField(default=utcnow)
    signature_name = CharField()

    append_only_error = "addenda are append-only"


class ChargeLine(BaseModel):
    """One billable service: created when a member's progress note is signed.

    A copy of what the claim needs at signing time (diagnoses, codes, the
    rendering provider's NPI), so a later change to an enrollment or an
    account never rewrites a charge already exported.
    """

    member_note = ForeignKeyField(MemberNote, unique=True, backref="+", on_delete="RESTRICT")
    session = ForeignKeyField(Session, backref="+", on_delete="RESTRICT")
    member = ForeignKeyField(User, backref="+", on_delete="RESTRICT")
    date_of_service = DateField(index=True)  # in the group's time zone
    diagnosis_codes = CharField()  # space separated, primary first
    cpt = CharField()
    modifiers = CharField(default="")  # space separated
    place_of_service = CharField()
    units = IntegerField(default=1)
    rendering_provider = ForeignKeyField(User, backref="+", on_delete="RESTRICT")
    rendering_npi = CharField(default="")
    note_signed_at = UTCDateTimeField()
    created_at = UTCDateTimeField(default=utcnow)


ALL_MODELS = [
    User,
    LoginAttempt,
    SetPasswordToken,
    AuditLog,
    Closure,
    Group,
    CoFacilitator,
    Module,
    Session,
    Enrollment,
    Attendance,
    SessionNote,
    CatchUpDone,
    PacketItem,
    CalendarEvent,
    ChangeCounter,
    OutboxMessage,
    MeasurePlan,
    MeasureResponse,
    SafetyAlert,
    SafetyAlertResponse,
    GroupNote,
    MemberNote,
    NoteAddendum,
    ChargeLine,
]
