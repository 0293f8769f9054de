"""The audit log as admins read it: names instead of ids, words instead of JSON.

The stored rows keep ids only (groups/audit.py); names are looked up when the
log is read, all of a page's in one query, so a page costs the same number of
queries whatever it holds. The CSV export reads the same way, in batches.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from dataclasses import dataclass

from peewee import SQL, chunked

from ..clock import to_local
from ..models import AuditLog, Group, Session, User
from .attendance import safe_cell

# Rows written before the record type was fixed at its source (groups/audit.py)
# named the proxy around the logged-in user.
TYPE_ALIASES = {"localproxy": "user"}
# Detail keys whose value is the id of a record that has a name.
NAMED_DETAILS = {"group": "group"}
CSV_BATCH = 1000
CSV_HEADER = [
    "when_utc",
    "when_local",
    "actor_email",
    "actor_name",
    "action",
    "record_type",
    "record_id",
    "record_name",
    "details",
    "address",
]


@dataclass
class Entry:
    row: AuditLog
    actor_name: str
    record_type: str
    record_name: str
    details: str

    @property
    def action(self) -> str:
        return self.row.action.replace("_", " ")


def readable(rows: list[AuditLog]) -> list[Entry]:
    """The rows with actor and record names (one query) and details in words."""
    wanted: dict[str, set[int]] = {"user": set(), "group": set(), "session": set()}
    parsed = []
    for row in rows:
        detail = _detail(row.detail)
        kind = TYPE_ALIASES.get(row.target_type, row.target_type)
        parsed.append((row, kind, detail))
        if row.actor_id:
            wanted["user"].add(row.actor_id)
        if kind in wanted and row.target_id:
            wanted[kind].add(row.target_id)
        for key, named in NAMED_DETAILS.items():
            if isinstance(detail.get(key), int):
                wanted[named].add(detail[key])
    names = _names(wanted)
    entries = []
    for row, kind, detail in parsed:
        words = []
        for key, value in detail.items():
            if key in NAMED_DETAILS and (NAMED_DETAILS[key], value) in names:
                value = names[NAMED_DETAILS[key], value]
            words.append(f"{key.replace('_', ' ')}: {_words(value)}")
        entries.append(
            Entry(
                row=row,
                actor_name=names.get(("user", row.actor_id), ""),
                record_type=kind,
                record_name=names.get((kind, row.target_id), ""),
                details="; ".join(words),
            )
        )
    return entries


def _names(wanted: dict[str, set[int]]) -> dict[tuple[str, int], str]:
    """(kind, id) -> name for people, groups and sessions (by their group), in one query."""
    parts = []
    if wanted["user"]:
        parts.append(
            User.select(SQL("'user'").alias("kind"), User.id, User.name).where(
                User.id.in_(sorted(wanted["user"]))
            )
        )
    if wanted["group"]:
        parts.append(
            Group.select(SQL("'group'").alias("kind"), Group.id, Group.name).where(
                Group.id.in_(sorted(wanted["group"]))
            )
        )
    if wanted["session"]:
        parts.append(
            Session.select(SQL("'session'").alias("kind"), Session.id, Group.name)
            .join(Group)
            .where(Session.id.in_(sorted(wanted["session"])))
        )
    if not parts:
        return {}
    query = parts[0]
    for part in parts[1:]:
        query = query + part  # UNION ALL
    return {(kind, id_): name for kind, id_, name in query.tuples()}


def _detail(text: str) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {"detail": text}
    return value if isinstance(value, dict) else {"detail": value}


def _words(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_words(v) for v in value) or "none"
    if value is None:
        return "none"
    return str(value)


def csv_text(query, tz: str) -> tuple[str, int]:
    """The filtered log as CSV (spreadsheet-safe cells) and its row count.

    Times are given twice: exact UTC for a reviewer's tools, and the
    practice's wall clock (``tz``) as people read them.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    count = 0
    for batch in chunked(query.iterator(), CSV_BATCH):
        for entry in readable(batch):
            row = entry.row
            at = row.at.astimezone(datetime.UTC)
            cells = [
                at.isoformat(timespec="seconds"),
                to_local(at, tz).strftime("%Y-%m-%d %H:%M:%S %Z"),
                row.actor_label,
                entry.actor_name,
                row.action,
                entry.record_type,
                row.target_id,
                entry.record_name,
                entry.details,
                row.ip,
            ]
            writer.writerow([safe_cell(c) for c in cells])
            count += 1
    return out.getvalue(), count
