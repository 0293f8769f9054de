"""US English in everything people read: templates, mail and the curricula.

The handout files are checked by ``check-handouts``; this keeps the pages,
messages and module titles to the same list (groups/handouts/spelling.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from groups.handouts.spelling import uk_spellings

ROOT = Path(__file__).resolve().parent.parent
# aria-labelledby is the attribute's name in HTML, not English prose.
NOT_PROSE = {"labelledby"}
FILES = sorted(
    [*ROOT.glob("templates/**/*.html"), *ROOT.glob("templates/**/*.txt")],
) + [ROOT / "groups" / "curricula.py"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_uk_spelling(path):
    hits = [hit for hit in uk_spellings(path.read_text()) if hit[1] not in NOT_PROSE]
    assert hits == [], f"{path.relative_to(ROOT)}: (line, found, use) {hits}"
