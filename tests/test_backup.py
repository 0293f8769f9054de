"""`flask --app app backup PATH` takes a consistent copy while writes go on.

A writer thread keeps committing transactions of two rows each through its
own connection while the backup runs. The copy must hold every transaction
committed before the backup started, never half of one, pass SQLite's
integrity check, be readable only by its owner, and work as the app's
database once restored.
"""

from __future__ import annotations

import datetime
import os
import shutil
import sqlite3
import stat
import threading
import time

import pytest

from groups import create_app
from groups.db import database
from groups.migrate import apply_migrations
from groups.models import AuditLog, Closure, User

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TEST_DATABASE_URL")),
    reason="backup copies the embedded SQLite database (PostgreSQL: pg_dump, see README)",
)

BASE_DAY = datetime.date(2000, 1, 1)


def sqlite_path(app) -> str:
    return app.config["DATABASE_URL"][len("sqlite:///") :]


def fill(path: str, rows: int = 30_000) -> None:
    """Enough data that the copy takes a while (a few MB of audit entries)."""
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO audit_log (at, actor_label, action, target_type, detail, ip) "
            "VALUES ('2026-01-01 00:00:00', '', 'login', 'user', ?, '127.0.0.1')",
            [("x" * 100,) for _ in range(rows)],
        )
    conn.close()


class PairWriter(threading.Thread):
    """Commits transactions of two closures ("pair N" on day 2N and 2N+1) until stopped."""

    def __init__(self, path: str):
        super().__init__(daemon=True)
        self.path = path
        self.committed = 0  # pairs 1..committed are committed
        self.errors: list[BaseException] = []
        self.stop = threading.Event()

    def run(self):
        conn = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=10000")
        try:
            n = 0
            while not self.stop.is_set():
                n += 1
                conn.execute("BEGIN IMMEDIATE")
                for day in (2 * n, 2 * n + 1):
                    conn.execute(
                        "INSERT INTO closure (date, reason, created_at) VALUES (?, ?, ?)",
                        (
                            (BASE_DAY + datetime.timedelta(days=day)).isoformat(),
                            f"pair {n}",
                            "2026-01-01 00:00:00",
                        ),
                    )
                conn.execute("COMMIT")
                self.committed = n
                time.sleep(0.0005)
        except BaseException as error:  # reported by the test
            self.errors.append(error)
        finally:
            conn.close()


def test_backup_during_writes_is_complete_consistent_and_private(app, runner, tmp_path):
    path = sqlite_path(app)
    fill(path)
    writer = PairWriter(path)
    writer.start()
    try:
        while writer.committed < 50:  # writes are flowing
            time.sleep(0.01)
        committed_before = writer.committed
        target = tmp_path / "backup.db"
        result = runner.invoke(args=["backup", str(target)])
        committed_after_start = writer.committed
    finally:
        writer.stop.set()
        writer.join(10)
    assert result.exit_code == 0, result.output
    assert not writer.errors, f"the writer failed during the backup: {writer.errors[0]!r}"
    assert committed_after_start > committed_before, "writes did not go on during the backup"

    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600

    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        reasons = [r for (r,) in copy.execute("SELECT reason FROM closure")]
        audit_rows = copy.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0]
    finally:
        copy.close()
    pairs: dict[str, int] = {}
    for reason in reasons:
        pairs[reason] = pairs.get(reason, 0) + 1
    half = {reason: n for reason, n in pairs.items() if n != 2}
    assert not half, f"the copy holds half of a transaction: {half}"
    present = {int(reason.split()[1]) for reason in pairs}
    missing = set(range(1, committed_before + 1)) - present
    assert not missing, f"committed before the backup but missing: {sorted(missing)[:10]}"
    # Every row is there: a snapshot is a prefix of the writer's transactions.
    assert present == set(range(1, len(present) + 1))
    assert audit_rows >= 30_000


def test_a_restored_backup_serves_the_app(app, runner, make_user, tmp_path):
    make_user("member", email="kept@example.org")
    backup = tmp_path / "nightly.db"
    assert runner.invoke(args=["backup", str(backup)]).exit_code == 0
    if not database.is_closed():
        database.close()

    # Restore: copy the backup into place (the app is stopped), then start on it.
    restored = tmp_path / "restored" / "groups.db"
    restored.parent.mkdir()
    shutil.copy2(backup, restored)
    again = create_app(
        {"TESTING": True, "SECRET_KEY": "t", "DATABASE_URL": f"sqlite:///{restored}"}
    )
    try:
        with again.app_context():
            assert apply_migrations() == []  # the schema came along
            with database.connection_context():
                assert Closure.select().count() == 0
                assert User.by_email("kept@example.org") is not None
                assert AuditLog.select().where(AuditLog.action == "backup_taken").count() == 0
        assert again.test_client().get("/healthz").data == b"ok"
    finally:
        if not database.is_closed():
            database.close()
