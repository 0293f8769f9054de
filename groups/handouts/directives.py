"""The ``:::`` worksheet directives of handout files, parsed and checked.

``:::lines N`` and ``:::table ROWS[xH] | Heading {share} | ...`` (see
``markup`` for what they print). Parsing is separate from the Markdown
extension so ``check-handouts`` can name the file line of a broken directive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_WRITE_LINES = 30
MAX_TABLE_ROWS = 20
MAX_ROW_HEIGHT = 3  # writing lines per row
MAX_TABLE_COLUMNS = 6
MAX_COLUMN_SHARE = 6
DIRECTIVE_RE = re.compile(r"^[ \t]*:::.*$", re.MULTILINE)
WRITE_LINES_RE = re.compile(r"^[ \t]*:::lines[ \t]+(\d+)[ \t]*$")
TABLE_RE = re.compile(r"^[ \t]*:::table[ \t]+(\d+)(?:x(\d+))?[ \t]*\|(.*)$")
HEADING_RE = re.compile(r"^(.*?)(?:[ \t]*\{(\d+)\})?$")


class DirectiveError(ValueError):
    """A ``:::`` line that cannot be printed; the message says why."""


@dataclass(frozen=True)
class FillTable:
    headings: tuple[str, ...]
    shares: tuple[int, ...]
    rows: int
    row_lines: int

    def width_classes(self) -> list[str]:
        """Each column's share of the width, rounded to 5 % steps."""
        total = sum(self.shares)
        return [f"w-{max(5, round(share * 20 / total) * 5)}" for share in self.shares]


def parse_lines(line: str) -> int:
    match = WRITE_LINES_RE.match(line)
    if not match:
        raise DirectiveError(f"expected ':::lines N', found {line.strip()!r}")
    if not 1 <= int(match[1]) <= MAX_WRITE_LINES:
        raise DirectiveError(f"':::lines {match[1]}' must be between 1 and {MAX_WRITE_LINES}")
    return int(match[1])


def parse_table(line: str) -> FillTable:
    match = TABLE_RE.match(line)
    if not match:
        raise DirectiveError(
            f"expected ':::table ROWS | Heading | Heading ...', found {line.strip()!r}"
        )
    rows, row_lines = int(match[1]), int(match[2] or 1)
    if not 1 <= rows <= MAX_TABLE_ROWS:
        raise DirectiveError(f"a table needs 1 to {MAX_TABLE_ROWS} rows, not {rows}")
    if not 1 <= row_lines <= MAX_ROW_HEIGHT:
        raise DirectiveError(f"rows can be 1 to {MAX_ROW_HEIGHT} lines tall, not {row_lines}")
    cells = match[3].strip()
    cells = cells[:-1] if cells.endswith("|") else cells
    headings, shares = [], []
    for number, cell in enumerate(cells.split("|"), start=1):
        heading = HEADING_RE.match(cell.strip())
        text, share = heading[1].strip(), int(heading[2] or 1)
        if not text:
            raise DirectiveError(f"column {number} of the table has no heading")
        if not 1 <= share <= MAX_COLUMN_SHARE:
            raise DirectiveError(
                f"column {number} ({text!r}): width {{{share}}} must be 1 to {MAX_COLUMN_SHARE}"
            )
        headings.append(text)
        shares.append(share)
    if len(headings) > MAX_TABLE_COLUMNS:
        raise DirectiveError(
            f"a table can have at most {MAX_TABLE_COLUMNS} columns, not {len(headings)}"
        )
    return FillTable(tuple(headings), tuple(shares), rows, row_lines)


def parse_directive(line: str) -> int | FillTable:
    """The ``:::lines`` count or the ``:::table`` layout; ``DirectiveError`` otherwise."""
    name = line.strip()[3:].strip().split(" ")[0].split("|")[0].strip()
    if name == "lines":
        return parse_lines(line)
    if name == "table":
        return parse_table(line)
    raise DirectiveError(
        f"unknown directive {line.strip()!r} (use ':::lines N' or ':::table ROWS | Heading ...')"
    )


def directive_problems(body: str, first_line: int = 1) -> list[str]:
    """Describe every malformed ``:::`` line; ``first_line`` is the file line
    the body starts on, so messages point at the line to fix."""
    problems = []
    for number, line in enumerate(body.splitlines(), start=first_line):
        if DIRECTIVE_RE.match(line):
            try:
                parse_directive(line)
            except DirectiveError as error:
                problems.append(f"line {number}: {error}")
    return problems
