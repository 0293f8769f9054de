"""Browser-test fixtures shared by every test under tests/browser/.

``live_server`` serves a fresh app (its own copy of the migrated SQLite file, CSRF on,
as in production) with werkzeug on 127.0.0.1 and a free port; ``browser`` is
Debian's /usr/bin/chromium driven by Playwright (never ``playwright install``);
``new_page(viewport)`` opens a page in a fresh context (no shared cookies) and
collects console errors, such as Content Security Policy violations.
"""

from __future__ import annotations

import itertools
import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from groups import create_app
from groups.db import database
from groups.models import User
from groups.services import accounts

CHROMIUM = "/usr/bin/chromium"
BROWSER_PASSWORD = "browser test passphrase"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}

_numbers = itertools.count(1)


class LiveServer:
    def __init__(self, app, url: str):
        self.app = app
        self.url = url

    def add_user(self, role: str, **fields) -> User:
        """An active account that logs in with BROWSER_PASSWORD."""
        n = next(_numbers)
        fields.setdefault("email", f"{role}.{n}@example.org")
        fields.setdefault("name", f"{role.title()} Browser {n}")
        fields.setdefault("password", BROWSER_PASSWORD)
        return accounts.create_user(fields.pop("email"), fields.pop("name"), role, **fields)


def pytest_collection_modifyitems(config, items):
    """Every test here must carry the ``browser`` marker (a module-level
    ``pytestmark``): the PostgreSQL pass of .ci/run leaves them out by it."""
    here = os.path.dirname(__file__)
    unmarked = [
        item.nodeid
        for item in items
        if str(item.path).startswith(here) and item.get_closest_marker("browser") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "add `pytestmark = pytest.mark.browser` to: " + ", ".join(sorted(unmarked))
        )


@pytest.fixture
def live_server(tmp_path, migrated_sqlite_template):
    # A copy of the run's migrated file (tests/conftest.py): migrating again costs more.
    shutil.copyfile(migrated_sqlite_template, tmp_path / "live.db")
    app = create_app(
        {
            "SECRET_KEY": "browser-test-secret",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'live.db'}",
            "WTF_CSRF_ENABLED": True,
            "PRACTICE_NAME": "Test Practice",
            # Page assertions are written with 24-hour times; the 12-hour
            # default is covered in tests/test_account.py.
            "TIME_FORMAT": "24h",
            "PDF_CACHE_DIR": str(tmp_path / "pdf-cache"),
        }
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = url
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app, url)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        if not database.is_closed():
            database.close()


def log_in(page, url: str, user, tour=None) -> None:
    """Log in through the form with BROWSER_PASSWORD, as a person would; a
    ``Tour`` given as ``tour`` screenshots the login page first."""
    page.goto(url + "/login")
    if tour is not None:
        tour.visit("login")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(BROWSER_PASSWORD)
    page.get_by_role("button", name="Log in").click()


def main_menu(page):
    """The main navigation; on a phone, where it folds behind one "Menu" button, opened first."""
    button = page.locator("summary.menu-button")
    if button.is_visible() and page.locator("details.menu[open]").count() == 0:
        button.click()
    return page.get_by_role("navigation", name="Main")


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium) "
            "to run the browser tests; .ci/run does this"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


class PageFactory:
    """``new_page(viewport=PHONE)``: a page in its own context.

    ``errors`` collects console errors (CSP violations among them), script errors and
    failed loads of the pages' own resources.
    """

    def __init__(self, browser):
        self.browser = browser
        self.contexts = []
        self.errors: list[str] = []

    def __call__(self, viewport: dict | None = None):
        context = self.browser.new_context(viewport=viewport or DESKTOP)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on("response", self._response)
        return page

    def _console(self, message):
        # Failed loads are reported with their URL by _response.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(f"console: {message.text}")

    def _response(self, response):
        # Chromium asks for /favicon.ico on its own; the pages never link it.
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.errors.append(f"{response.status} {response.url}")

    def close(self):
        for context in self.contexts:
            context.close()


@pytest.fixture
def new_page(browser):
    factory = PageFactory(browser)
    yield factory
    factory.close()
