"""A guided walk through pages: a screenshot and an axe-core check of each page.

``Tour(page, directory, name).visit("label")`` saves ``<name>-NN-<label>.png``
(the whole page) into ``directory`` and runs axe-core in the page. Serious and
critical violations are collected in ``tour.problems``; a journey asserts the
list is empty at its end, so one run reports every page's problems at once.

axe-core comes from the ``axe-playwright-python`` package (a dev dependency
that bundles ``axe.min.js``): it is evaluated through the DevTools protocol,
which the pages' Content Security Policy does not block, so the journeys run
with the real CSP and still catch any CSP violation of the app itself.

``UPDATE_SCREENSHOTS=1 pytest tests/browser/test_journeys.py`` also writes the
README's screenshots (the viewport only, so they stay small) into ``docs/``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCKING = ("serious", "critical")


def update_docs() -> bool:
    return os.environ.get("UPDATE_SCREENSHOTS") == "1"


def axe_violations(page) -> list[dict]:
    """Every axe-core violation on the page as it is now (all impacts)."""
    from axe_playwright_python.sync_playwright import Axe

    return Axe().run(page).response["violations"]


def describe(violation: dict) -> str:
    targets = [" ".join(node["target"]) for node in violation["nodes"][:4]]
    more = len(violation["nodes"]) - len(targets)
    where = ", ".join(targets) + (f" (+{more} more)" if more > 0 else "")
    return f"{violation['id']} ({violation['impact']}): {violation['help']} at {where}"


class Tour:
    def __init__(self, page, directory: Path, name: str):
        self.page = page
        self.directory = directory
        self.name = name
        self.count = 0
        self.problems: list[str] = []
        self.notes: list[str] = []  # moderate and minor findings, for reading
        self.shots: list[Path] = []

    def visit(self, label: str, *, doc: str | None = None) -> Path:
        """Screenshot the page, check it with axe-core, and check it fits the screen."""
        page = self.page
        page.wait_for_load_state("load")
        self.count += 1
        slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")
        path = self.directory / f"{self.name}-{self.count:02d}-{slug}.png"
        page.screenshot(path=path, full_page=True)
        self.shots.append(path)
        if doc and update_docs():
            DOCS.mkdir(exist_ok=True)
            page.screenshot(path=DOCS / doc)
        for violation in axe_violations(page):
            line = f"{label} ({page.url}): {describe(violation)}"
            if violation["impact"] in BLOCKING:
                self.problems.append(line)
            else:
                self.notes.append(line)
        h1s = page.locator("h1").count()
        if h1s != 1:
            self.problems.append(f"{label} ({page.url}): {h1s} h1 elements, expected one")
        if not page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"):
            self.problems.append(f"{label} ({page.url}): wider than the screen")
        return path
