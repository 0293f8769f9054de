"""`make load`: concurrent users against gunicorn, then a check that nothing was lost.

16 clients (by default) for 60 seconds against gunicorn with 4 sync workers:
members read their schedule, their calendar feed (also as a conditional
poll) and a session page; providers save whole attendance rosters, enroll
members into small open groups (so the groups fill up and waitlists form)
and withdraw some of them again; admins export the practice calendar and
browse groups and the audit log. Every client logs in through the real
login form and sends CSRF tokens like a browser.

Afterwards, with the server stopped, the database is checked against what
the server acknowledged:

- every acknowledged roster save is what the session holds (the last save of
  each session, all 12 rows, statuses and notes);
- every acknowledged enrollment is there (active or waitlisted), every
  acknowledged withdrawal is withdrawn;
- no group ever held more active members than its capacity (sampled during
  the run and checked at the end), and no seat is free while someone waits.

The run fails (exit status 1) on any server error (5xx, a dropped
connection, a timeout), any unexpected status, any lost write, any
capacity breach, or a traceback in the server log.

    python benchmarks/load.py                      # SQLite (a temporary file)
    python benchmarks/load.py --database-url postgresql://user:pw@127.0.0.1/empty_db
"""

from __future__ import annotations

import argparse
import datetime
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python benchmarks/load.py
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.harness import (  # noqa: E402
    Client,
    Server,
    app_environment,
    flask_cli,
    percentile,
)

ROSTER_STATUS = re.compile(r'name="status-(\d+)"')
VERSION = re.compile(r'name="version" value="([^"]*)"')
STATUSES = ("present", "late", "absent", "excused")


# --- what happened ------------------------------------------------------------------


@dataclass
class Tally:
    """Requests per kind: timings, statuses and failures (thread-safe)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    server_errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    unexpected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: list[str] = field(default_factory=list)

    def record(self, kind: str, seconds: float, ok: bool, server_error: bool, detail: str = ""):
        with self.lock:
            self.times[kind].append(seconds)
            if server_error:
                self.server_errors[kind] += 1
            elif not ok:
                self.unexpected[kind] += 1
            if (server_error or not ok) and len(self.examples) < 20:
                self.examples.append(f"{kind}: {detail}")


@dataclass
class Acks:
    """Writes the server acknowledged (thread-safe)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    rosters: dict[int, dict[int, tuple[str, str]]] = field(default_factory=dict)
    enrolled: list[tuple[int, str]] = field(default_factory=list)
    withdrawn: list[int] = field(default_factory=list)  # enrollment ids
    max_active: dict[int, int] = field(default_factory=lambda: defaultdict(int))


class Stop(Exception):
    pass


# --- the clients --------------------------------------------------------------------


class Person:
    """One simulated person: a logged-in HTTP client looping over its tasks."""

    def __init__(self, port, tally: Tally, acks: Acks, deadline: float, email: str, password):
        self.client = Client(port, timeout=60)
        self.tally, self.acks, self.deadline = tally, acks, deadline
        self.email, self.password = email, password
        self.rng = random.Random(email)

    def call(self, kind: str, method: str, path: str, data=None, headers=None, expected=(200,)):
        if time.monotonic() > self.deadline:
            raise Stop
        started = time.perf_counter()
        try:
            if method == "GET":
                response = self.client.get(path, headers)
            else:
                response = self.client.post(path, data, headers)
        except Exception as error:  # a dropped connection or a timeout is a server failure
            self.client.close()
            self.tally.record(kind, time.perf_counter() - started, False, True, repr(error))
            return None
        server_error = response.status >= 500
        ok = response.status in expected
        self.tally.record(
            kind, response.seconds, ok, server_error, f"{method} {path} -> {response.status}"
        )
        return response if ok else None

    def run(self):
        try:
            self.client.login(self.email, self.password)
            while True:
                self.step()
        except Stop:
            pass
        finally:
            self.client.close()


class Member(Person):
    def __init__(self, *args, token: str, sessions: list[int]):
        super().__init__(*args)
        self.feed = f"/feed/{token}.ics"
        self.sessions = sessions
        self.etag = None

    def step(self):
        self.call("member schedule", "GET", "/schedule")
        response = self.call("member feed", "GET", self.feed)
        if response is not None:
            self.etag = response.headers.get("etag")
        if self.etag:
            poll = self.call(
                "member feed poll",
                "GET",
                self.feed,
                headers={"If-None-Match": self.etag},
                expected=(200, 304),
            )
            if poll is not None and poll.status == 200:
                self.etag = poll.headers.get("etag")
        self.call("member session page", "GET", f"/sessions/{self.rng.choice(self.sessions)}")


class Provider(Person):
    def __init__(self, *args, app, world, sessions: list[int], spares: list[str]):
        super().__init__(*args)
        self.app, self.world = app, world
        self.sessions, self.spares = sessions, list(spares)
        self.groups = list(world.enroll_groups)
        self.mine: list[tuple[int, str]] = []  # acknowledged enrollments of this client
        self.saves = 0

    def step(self):
        if self.sessions:
            self.save_roster(self.sessions[self.saves % len(self.sessions)])
        if self.spares:
            self.enroll(self.spares.pop(0))
        if self.mine and self.rng.random() < 0.35:
            self.withdraw(self.mine.pop(self.rng.randrange(len(self.mine))))
        self.call("group page", "GET", f"/groups/{self.world.attendance_group}")

    def save_roster(self, session_id: int):
        path = f"/sessions/{session_id}/attendance"
        page = self.call("attendance form", "GET", path)
        if page is None:
            return
        ids = sorted({int(i) for i in ROSTER_STATUS.findall(page.text)})
        self.saves += 1
        marks = {
            mid: (self.rng.choice(STATUSES), f"save {self.saves}" if k == 0 else "")
            for k, mid in enumerate(ids)
        }
        data = [("version", VERSION.search(page.text).group(1))]
        for mid, (status, note) in marks.items():
            data += [(f"status-{mid}", status), (f"note-{mid}", note)]
        if self.call("attendance save", "POST", path, data, expected=(302,)) is not None:
            with self.acks.lock:
                self.acks.rosters[session_id] = marks

    def enroll(self, email: str):
        group_id = self.groups[len(self.spares) % len(self.groups)]
        response = self.call(
            "enroll", "POST", f"/groups/{group_id}/enroll", {"email": email}, expected=(302,)
        )
        if response is not None:
            self.mine.append((group_id, email))
            with self.acks.lock:
                self.acks.enrolled.append((group_id, email))

    def withdraw(self, acked: tuple[int, str]):
        from groups.db import database
        from groups.models import Enrollment, User

        group_id, email = acked
        with self.app.app_context(), database.connection_context():
            row = (
                Enrollment.select(Enrollment.id)
                .join(User, on=(Enrollment.member == User.id))
                .where(
                    Enrollment.group == group_id,
                    User.email == email,
                    Enrollment.status.in_(("active", "waitlisted")),
                )
                .first()
            )
        if row is None:  # checked (and reported) as a lost write afterwards
            return
        response = self.call(
            "withdraw",
            "POST",
            f"/groups/{group_id}/enrollments/{row.id}/withdraw",
            {"reason": "Load test: moved to another group"},
            expected=(302,),
        )
        if response is not None:
            with self.acks.lock:
                self.acks.withdrawn.append(row.id)


class Admin(Person):
    """Exports the practice's next four weeks and one group's year, browses.

    The practice-wide export of a whole year is measured by ``make bench``;
    here it would keep two of four workers building calendars all minute.
    """

    def __init__(self, *args, group: int):
        super().__init__(*args)
        start, end = year_window()
        month_end = (datetime.date.today() + datetime.timedelta(days=28)).isoformat()
        today = datetime.date.today().isoformat()
        self.exports = [
            f"/calendars/export?what=practice&start={today}&end={month_end}",
            f"/calendars/export?what=group:{group}&start={start}&end={end}",
        ]

    def step(self):
        for export in self.exports:
            self.call("admin export", "GET", export)
        self.call("admin groups", "GET", "/groups/")
        self.call("admin audit", "GET", "/admin/audit")


def monitor(app, groups: dict[int, int], acks: Acks, stop: threading.Event):
    """Sample each group's active count while the load runs."""
    from peewee import fn

    from groups.db import database
    from groups.models import Enrollment

    with app.app_context():
        while not stop.is_set():
            with database.connection_context():
                rows = (
                    Enrollment.select(Enrollment.group, fn.COUNT(Enrollment.id))
                    .where(Enrollment.group.in_(list(groups)), Enrollment.status == "active")
                    .group_by(Enrollment.group)
                    .tuples()
                )
                for group_id, n in rows:
                    acks.max_active[group_id] = max(acks.max_active[group_id], n)
            stop.wait(0.2)


# --- set-up, run, check ---------------------------------------------------------------


def prepare(database_url: str, scale: str, port: int):
    """Schema and demo data through the CLI, then the known world in-process."""
    env = app_environment(database_url, port)
    flask_cli("init-db", env=env)
    if scale != "none":
        flask_cli("demo-data", "--scale", scale, env=env)
    from groups import create_app

    app = create_app(
        {"DATABASE_URL": database_url, "SECRET_KEY": "load", "BASE_URL": f"http://127.0.0.1:{port}"}
    )
    return app, seed_world(app, spares=1500)


def seed_world(app, **kwargs):
    from groups.db import database
    from tests.world import load_practice

    with app.app_context(), database.connection_context():
        return load_practice("load", **kwargs)


@dataclass
class Report:
    tally: Tally
    acks: Acks
    seconds: float
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        lines = [
            f"{'kind':<22}{'requests':>9}{'5xx/err':>9}{'unexpect':>9}"
            f"{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}"
        ]
        total = 0
        for kind in sorted(self.tally.times):
            times = self.tally.times[kind]
            total += len(times)
            lines.append(
                f"{kind:<22}{len(times):>9}{self.tally.server_errors[kind]:>9}"
                f"{self.tally.unexpected[kind]:>9}{percentile(times, 50) * 1000:>9.1f}"
                f"{percentile(times, 95) * 1000:>9.1f}{max(times) * 1000:>9.1f}"
            )
        lines.append(
            f"{'total':<22}{total:>9}{sum(self.tally.server_errors.values()):>9}"
            f"{sum(self.tally.unexpected.values()):>9}   ({total / self.seconds:.0f} requests/s "
            f"over {self.seconds:.1f} s)"
        )
        lines.append(
            f"acknowledged: {len(self.acks.rosters)} rosters (last save each), "
            f"{len(self.acks.enrolled)} enrollments, {len(self.acks.withdrawn)} withdrawals; "
            f"peak active per group: {dict(self.acks.max_active)}"
        )
        lines += self.tally.examples[:10]
        lines.append("PASS" if self.ok else "FAIL:\n  " + "\n  ".join(self.problems))
        return "\n".join(lines)


def run_load(
    app, world, server: Server, *, clients: int = 16, duration: float = 60, log=print
) -> Report:
    """Drive ``clients`` users against a running ``server`` for ``duration`` seconds."""
    tally, acks = Tally(), Acks()
    deadline = time.monotonic() + duration
    n_members = max(1, clients // 2)
    n_admins = max(1, clients // 8)
    n_providers = max(1, clients - n_members - n_admins)
    users: list[Person] = []
    tokens = list(world.feed_tokens.items())
    for i in range(n_members):
        email, token = tokens[i % len(tokens)]
        users.append(
            Member(
                server.port,
                tally,
                acks,
                deadline,
                email,
                world.password,
                token=token,
                sessions=world.attendance_sessions,
            )
        )
    for j in range(n_providers):
        users.append(
            Provider(
                server.port,
                tally,
                acks,
                deadline,
                world.provider_email,
                world.password,
                app=app,
                world=world,
                sessions=world.attendance_sessions[j::n_providers],
                spares=world.spare_emails[j::n_providers],
            )
        )
    for _ in range(n_admins):
        users.append(
            Admin(
                server.port,
                tally,
                acks,
                deadline,
                world.admin_email,
                world.password,
                group=world.attendance_group,
            )
        )
    stop = threading.Event()
    watcher = threading.Thread(target=monitor, args=(app, world.enroll_groups, acks, stop))
    watcher.start()
    threads = [threading.Thread(target=u.run, name=u.email) for u in users]
    log(
        f"load: {n_members} members, {n_providers} providers, {n_admins} admins for "
        f"{duration:.0f}s against {server.workers} gunicorn workers"
    )
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 120)
    seconds = time.monotonic() - started
    stop.set()
    watcher.join(10)
    problems = []
    hung = [t.name for t in threads if t.is_alive()]
    if hung:
        problems.append(f"clients still waiting for an answer after the run: {hung}")
    return Report(tally, acks, seconds, problems)


def year_window():
    today = datetime.date.today()
    start = today - datetime.timedelta(days=182)
    return start.isoformat(), (start + datetime.timedelta(days=364)).isoformat()


def log_excerpt(log: str, marker: str, lines: int = 40) -> str:
    """The server log from the line before the first ``marker`` on, indented: what a failed
    run needs to show to be diagnosed after its temporary folder is gone."""
    rows = log.splitlines()
    first = next(i for i, row in enumerate(rows) if marker in row)
    return "\n".join("    " + row for row in rows[max(first - 1, 0) : first + lines])


def verify(app, world, report: Report, server_log: str = "") -> None:
    """Compare the database with every acknowledged write; add problems to the report."""
    from peewee import fn

    from groups.db import database
    from groups.models import Attendance, Enrollment, Group, User

    problems = report.problems
    tally, acks = report.tally, report.acks
    if sum(tally.server_errors.values()):
        problems.append(f"server errors: {dict(tally.server_errors)}")
    if sum(tally.unexpected.values()):
        problems.append(f"unexpected statuses: {dict(tally.unexpected)}")
    for marker in ("Traceback", "[CRITICAL]", "WORKER TIMEOUT", "[ERROR]"):
        if marker in server_log:
            problems.append(f"the server log shows {marker!r}:\n{log_excerpt(server_log, marker)}")
    with app.app_context(), database.connection_context():
        for session_id, marks in acks.rosters.items():
            saved = {
                member: (status, note)
                for member, status, note in Attendance.select(
                    Attendance.member, Attendance.status, Attendance.note
                )
                .where(Attendance.session == session_id)
                .tuples()
            }
            if saved != marks:
                problems.append(f"session {session_id}: the last acknowledged roster is not saved")
        emails = {email for _, email in acks.enrolled}
        ids = {u.email: u.id for u in User.select().where(User.email.in_(list(emails)))}
        rows = defaultdict(list)
        for e in Enrollment.select().where(Enrollment.group.in_(list(world.enroll_groups))):
            rows[(e.group_id, e.member_id)].append(e)
        withdrawn = set(acks.withdrawn)
        for group_id, email in acks.enrolled:
            found = rows.get((group_id, ids.get(email)), [])
            if not found:
                problems.append(f"acknowledged enrollment lost: {email} in group {group_id}")
            elif not any(e.status != "withdrawn" or e.id in withdrawn for e in found):
                problems.append(
                    f"{email} in group {group_id}: withdrawn without an acknowledgement"
                )
        for enrollment_id in withdrawn:
            if Enrollment.get_by_id(enrollment_id).status != "withdrawn":
                problems.append(f"acknowledged withdrawal lost: enrollment {enrollment_id}")
        counts = defaultdict(lambda: defaultdict(int))
        for group_id, status, n in (
            Enrollment.select(Enrollment.group, Enrollment.status, fn.COUNT(Enrollment.id))
            .group_by(Enrollment.group, Enrollment.status)
            .tuples()
        ):
            counts[group_id][status] = n
        for group in Group.select():
            active, waiting = counts[group.id]["active"], counts[group.id]["waitlisted"]
            if active > group.capacity:
                problems.append(f"group {group.id}: {active} active over capacity {group.capacity}")
            if waiting and active < group.capacity and group.id in world.enroll_groups:
                problems.append(f"group {group.id}: a seat is free while {waiting} wait")
        for group_id, peak in acks.max_active.items():
            if peak > world.enroll_groups[group_id]:
                problems.append(f"group {group_id} held {peak} active members during the run")
    if not acks.rosters or not acks.enrolled:
        problems.append("the run acknowledged no roster save or no enrollment: nothing was tested")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60, help="seconds")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument(
        "--database-url",
        help="an EMPTY database to fill and load (default: a temporary SQLite file)",
    )
    parser.add_argument("--scale", default="large", choices=["none", "small", "large"])
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="groups-load-"))
    database_url = args.database_url or f"sqlite:///{tmp / 'load.db'}"
    server = Server(
        database_url,
        workers=args.workers,
        extra_env={"PDF_CACHE_DIR": str(tmp / "pdf-cache")},
        log_path=tmp / "gunicorn.log",
    )
    try:
        print(f"preparing {database_url.split('@')[-1]} ({args.scale} demo data)...")
        app, world = prepare(database_url, args.scale, server.port)
        server.start()
        try:
            report = run_load(app, world, server, clients=args.clients, duration=args.duration)
        finally:
            server.stop()
        verify(app, world, report, server.log(tail=10**7))
        print(report.text())
        if not report.ok:
            print(server.log(), file=sys.stderr)
        return 0 if report.ok else 1
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
