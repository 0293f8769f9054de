"""SIGKILL the server in the middle of a stream of writes: nothing acknowledged is lost.

gunicorn (master and workers) serves a temporary database while two clients
stream writes over HTTP: one saves whole 12-member rosters (every save marks
all 12 rows "save N"), the other enrolls members. The whole process group is
SIGKILLed while a roster save is in flight, the server is started again on
the same database, and then:

- SQLite's integrity check is ``ok`` and no foreign key dangles;
- every roster is all-or-nothing: 0 or 12 rows, all from one save, and a
  session with rows is marked held (the same transaction flips it);
- each session holds its last acknowledged save (or the one in flight);
- every acknowledged enrollment is there with its audit entry, and no
  enrollment exists without one; no group is over capacity;
- the restarted server takes writes again, with the same login cookies.
"""

from __future__ import annotations

import os
import random
import re
import sqlite3
import threading
import time
from collections import defaultdict
from http.client import HTTPException

import pytest

from benchmarks.harness import Client, Server, ServerFailed
from groups.db import database
from groups.models import Attendance, AuditLog, Enrollment, Group, Session, User
from tests.world import load_practice

ROSTER_STATUS = re.compile(r'name="status-(\d+)"')
VERSION = re.compile(r'name="version" value="([^"]*)"')
ON_SQLITE = not os.environ.get("TEST_DATABASE_URL")


@pytest.fixture
def world(app):
    with app.app_context(), database.connection_context():
        return load_practice("crash", enroll_groups=2, enroll_capacity=5, spares=300, feed_tokens=0)


@pytest.fixture
def start_server(database_url, tmp_path):
    servers = []

    def start() -> Server:
        server = Server(
            database_url,
            workers=2,
            port=servers[0].port if servers else None,
            extra_env={"PDF_CACHE_DIR": str(tmp_path / "pdf-cache")},
            log_path=tmp_path / "gunicorn.log",
            gunicorn_args=("--preload",),  # one import, then fork: a faster start
        )
        servers.append(server)
        try:
            return server.start(timeout=30)
        except ServerFailed as error:
            pytest.skip(f"gunicorn cannot start here: {error}")

    yield start
    for server in servers:
        server.stop(timeout=5, quick=True)


class RosterStream(threading.Thread):
    """Saves rosters round-robin until the connection fails."""

    def __init__(self, client: Client, sessions: list[int]):
        super().__init__(daemon=True)
        self.client, self.sessions = client, sessions
        self.acked: dict[int, int] = {}  # session -> last acknowledged save number
        self.sent: dict[int, int] = {}  # session -> last save number sent
        self.in_flight = threading.Event()
        self.error: BaseException | None = None

    def run(self):
        n = 0
        try:
            while True:
                session_id = self.sessions[n % len(self.sessions)]
                n += 1
                path = f"/sessions/{session_id}/attendance"
                page = self.client.get(path)
                assert page.status == 200, page.status
                data = [("version", VERSION.search(page.text).group(1))]
                for k, mid in enumerate(sorted(set(ROSTER_STATUS.findall(page.text)))):
                    data += [(f"status-{mid}", ("present", "absent")[(n + k) % 2])]
                    data += [(f"note-{mid}", f"save {n}")]
                self.sent[session_id] = n
                self.in_flight.set()
                response = self.client.post(path, data)
                self.in_flight.clear()
                assert response.status == 302, response.status
                self.acked[session_id] = n
        except (OSError, HTTPException, AssertionError) as error:
            self.error = error


class EnrollStream(threading.Thread):
    def __init__(self, client: Client, groups: list[int], emails: list[str]):
        super().__init__(daemon=True)
        self.client, self.groups, self.emails = client, groups, emails
        self.acked: list[tuple[int, str]] = []
        self.error: BaseException | None = None

    def run(self):
        try:
            for i, email in enumerate(self.emails):
                group_id = self.groups[i % len(self.groups)]
                response = self.client.post(f"/groups/{group_id}/enroll", {"email": email})
                assert response.status == 302, response.status
                self.acked.append((group_id, email))
        except (OSError, HTTPException, AssertionError) as error:
            self.error = error


def test_sigkill_mid_stream_loses_nothing_acknowledged(app, world, start_server, database_url):
    server = start_server()
    rosters, enrolls = Client(server.port, timeout=20), Client(server.port, timeout=20)
    rosters.login(world.provider_email, world.password)
    enrolls.login(world.provider_email, world.password)
    roster_stream = RosterStream(rosters, world.attendance_sessions)
    enroll_stream = EnrollStream(enrolls, list(world.enroll_groups), world.spare_emails)
    roster_stream.start()
    enroll_stream.start()

    deadline = time.monotonic() + 20
    while len(roster_stream.acked) < 8 or len(enroll_stream.acked) < 8:
        assert time.monotonic() < deadline, "the writes did not get going"
        assert roster_stream.is_alive() and enroll_stream.is_alive(), (
            roster_stream.error or enroll_stream.error,
            server.log(),
        )
        time.sleep(0.02)
    assert roster_stream.in_flight.wait(5)
    time.sleep(random.uniform(0, 0.004))  # somewhere inside the save
    server.kill()
    roster_stream.join(10)
    enroll_stream.join(10)
    assert roster_stream.error is not None  # cut by the kill
    assert enroll_stream.error is not None or len(enroll_stream.acked) == len(world.spare_emails)

    server = start_server()

    if ON_SQLITE:
        path = database_url[len("sqlite:///") :]
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        finally:
            conn.close()

    with app.app_context(), database.connection_context():
        notes = defaultdict(set)
        counts = defaultdict(int)
        for session_id, note in (
            Attendance.select(Attendance.session, Attendance.note)
            .where(Attendance.session.in_(world.attendance_sessions))
            .tuples()
        ):
            notes[session_id].add(note)
            counts[session_id] += 1
        statuses = dict(
            Session.select(Session.id, Session.status)
            .where(Session.id.in_(world.attendance_sessions))
            .tuples()
        )
        for session_id in world.attendance_sessions:
            assert counts[session_id] in (0, len(world.roster)), f"half a roster: {session_id}"
            assert len(notes[session_id]) <= 1, f"two saves mixed in {session_id}"
            if counts[session_id]:
                assert statuses[session_id] == "held"
            else:
                assert statuses[session_id] == "scheduled"
        for session_id, n in roster_stream.acked.items():
            saved = int(notes[session_id].pop().split()[1])
            # The last acknowledged save, or the one in flight when the server died.
            assert saved in (n, roster_stream.sent[session_id]), (session_id, saved, n)

        members = {u.email: u.id for u in User.select().where(User.role == "member")}
        enrolled = {
            (e.group_id, e.member_id): e
            for e in Enrollment.select().where(Enrollment.group.in_(list(world.enroll_groups)))
        }
        for group_id, email in enroll_stream.acked:
            assert (group_id, members[email]) in enrolled, f"lost enrollment {email}"
        audited = {
            target
            for (target,) in AuditLog.select(AuditLog.target_id)
            .where(AuditLog.action == "enrollment_changed", AuditLog.target_type == "enrollment")
            .tuples()
        }
        assert {e.id for e in enrolled.values()} <= audited, "an enrollment without its audit"
        for group in Group.select().where(Group.id.in_(list(world.enroll_groups))):
            active = sum(
                1 for e in enrolled.values() if e.group_id == group.id and e.status == "active"
            )
            assert active <= group.capacity

    # The restarted server takes writes, and the old login cookies still work.
    rosters.close()
    session_id = world.attendance_sessions[0]
    page = rosters.get(f"/sessions/{session_id}/attendance")
    assert page.status == 200
    data = [("version", VERSION.search(page.text).group(1))]
    for mid in sorted(set(ROSTER_STATUS.findall(page.text))):
        data += [(f"status-{mid}", "excused"), (f"note-{mid}", "after restart")]
    assert rosters.post(f"/sessions/{session_id}/attendance", data).status == 302
    with app.app_context(), database.connection_context():
        after = {
            note
            for (note,) in Attendance.select(Attendance.note)
            .where(Attendance.session == session_id)
            .tuples()
        }
        assert after == {"after restart"}
