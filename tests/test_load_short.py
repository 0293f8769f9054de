"""A short `make load`: 4 clients for 5 seconds, then every acknowledged write checked.

The full run (16 clients, 60 s, 4 workers) is `make load`; this keeps the same
mix (members reading, providers saving rosters, enrolling and withdrawing,
admins exporting) in the suite, on SQLite or on TEST_DATABASE_URL.
"""

from __future__ import annotations

import pytest

from benchmarks.harness import Server, ServerFailed
from benchmarks.load import log_excerpt, run_load, seed_world, verify


def test_short_load_run_has_no_errors_and_loses_no_writes(app, database_url, tmp_path):
    world = seed_world(app, spares=150, feed_tokens=4)
    server = Server(
        database_url,
        workers=2,
        extra_env={"PDF_CACHE_DIR": str(tmp_path / "pdf-cache")},
        log_path=tmp_path / "gunicorn.log",
        gunicorn_args=("--preload",),
    )
    try:
        server.start(timeout=30)
    except ServerFailed as error:
        pytest.skip(f"gunicorn cannot start here: {error}")
    try:
        report = run_load(app, world, server, clients=4, duration=5, log=lambda *a: None)
    finally:
        server.stop(timeout=5, quick=True)
    verify(app, world, report, server.log(tail=10**7))
    assert report.ok, report.text()
    assert sum(len(t) for t in report.tally.times.values()) > 20


def test_a_failed_run_shows_the_servers_traceback():
    log = (
        "started\n[ERROR] Error handling request\n"
        "Traceback (most recent call last):\n  x\nValueError: y\n"
    )
    excerpt = log_excerpt(log, "Traceback")
    assert "[ERROR] Error handling request" in excerpt and "ValueError: y" in excerpt
    assert "started" not in excerpt  # from the line before the marker on
