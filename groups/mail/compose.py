"""From templates to text, and from an outbox row to a MIME message.

Every header value passes through ``email.headerregistry`` under the
standard library's default policy, which refuses CR and LF in a header; on
top of that, names and subjects are collapsed to one line when the message
is queued, so a name typed with a line break stays a name and cannot start
a header of its own.
"""

from __future__ import annotations

import datetime
import secrets
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from flask import current_app, render_template

from ..clock import to_local, utcnow
from ..models import OutboxMessage, User


def one_line(value: str) -> str:
    """``value`` with every run of whitespace (line breaks included) as one space."""
    return " ".join(str(value).split())


def render(template: str, context: dict) -> tuple[str, str]:
    """The plain text and HTML bodies from ``templates/mail/<template>.txt`` and ``.html``.

    Only the ``.html`` one is autoescaped (Flask escapes by file extension),
    so a name with ``<`` in it reads the same in both.
    """
    text = render_template(f"mail/{template}.txt", **context)
    html = render_template(f"mail/{template}.html", **context)
    return text.strip() + "\n", html


def sender() -> Address:
    """``MAIL_FROM`` as an address; its display name defaults to the practice's name."""
    config = current_app.config
    name, address = parseaddr(config["MAIL_FROM"])
    username, _, domain = address.partition("@")
    return Address(one_line(name or config["PRACTICE_NAME"]), username, domain)


def new_message_id(created: datetime.datetime) -> str:
    """A Message-ID fixed when the message is queued: retries keep it, so receivers can dedupe.

    Its local part starts with the queueing time, so the development
    ``.eml`` files sort by age.
    """
    return f"<{created:%Y%m%d-%H%M%S}-{secrets.token_hex(8)}@{sender().domain or 'localhost'}>"


def recipient_time(value: datetime.datetime, user: User) -> str:
    """A time as the recipient reads it: in their own zone, with the zone named."""
    local = to_local(value, user.timezone)
    return f"{local:%A} {local.day} {local:%B %Y, %H:%M} {local.tzname()} ({user.timezone})"


def build(row: OutboxMessage, from_address: Address) -> EmailMessage:
    """The message as it goes on the wire: text first, HTML as the preferred alternative."""
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = Address(display_name=row.to_name, addr_spec=row.to_address)
    message["Subject"] = row.subject
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = row.message_id
    # RFC 3834: an automatic message; vacation responders should stay quiet.
    message["Auto-Submitted"] = "auto-generated"
    if row.unsubscribe_url:
        message["List-Unsubscribe"] = f"<{row.unsubscribe_url}>"
    message.set_content(row.text_body)
    if row.html_body:
        message.add_alternative(row.html_body, subtype="html")
    return message
