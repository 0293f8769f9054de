"""From templates to text, and from an outbox row to a MIME message.

No header can be injected: names and subjects are collapsed to one line
when the message is queued (a name typed with a line break stays a name),
``build`` refuses any header value that still holds CR or LF, addresses are
written by ``email.utils.formataddr`` (which quotes and encodes display
names), and the generator rejects a value that would start a new header.
"""

from __future__ import annotations

import datetime
import secrets
from email.header import Header
from email.headerregistry import Address
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr

from flask import current_app, render_template

from ..clock import clock_time, to_local, utcnow, zone_name
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


def recipient_time(value: datetime.datetime, user: User, practice_clock: str = "12h") -> str:
    """A time as the recipient reads it: their zone (named as people say it) and
    their clock, else the practice's (``TIME_FORMAT``)."""
    local = to_local(value, user.timezone)
    clock = clock_time(local, user.clock_format(practice_clock))
    return f"{local:%A} {local.day} {local:%B %Y}, {clock} {zone_name(user.timezone)}"


def header_value(value: str) -> str:
    """``value`` for a header, refusing line breaks (a ValueError fails that message for good)."""
    if "\r" in value or "\n" in value:
        raise ValueError("line break in a header value")
    return value


def encoded(value: str) -> Header | str:
    """ASCII as it is; anything else as an RFC 2047 encoded word."""
    return value if value.isascii() else Header(value, "utf-8")


def build(row: OutboxMessage, from_address: Address) -> Message:
    """The message as it goes on the wire: text first, HTML as the preferred alternative.

    Built with the ``email.mime`` classes: the same standard library, but
    without re-parsing every header it writes, which made building a
    message take three times as long as with ``EmailMessage`` (the
    dispatcher's main cost). Line breaks are refused here and again by the
    generator, which rejects a header value carrying an embedded header.
    """
    message = MIMEMultipart("alternative")
    message["From"] = header_value(
        formataddr((from_address.display_name, from_address.addr_spec), charset="utf-8")
    )
    message["To"] = header_value(formataddr((row.to_name, row.to_address), charset="utf-8"))
    message["Subject"] = encoded(header_value(row.subject))
    message["Date"] = format_datetime(utcnow())
    message["Message-ID"] = header_value(row.message_id)
    # RFC 3834: an automatic message; vacation responders should stay quiet.
    message["Auto-Submitted"] = "auto-generated"
    if row.unsubscribe_url:
        message["List-Unsubscribe"] = header_value(f"<{row.unsubscribe_url}>")
    message.attach(MIMEText(row.text_body, "plain", "utf-8"))
    if row.html_body:
        message.attach(MIMEText(row.html_body, "html", "utf-8"))
    return message
