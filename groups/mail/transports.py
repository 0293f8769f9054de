"""Where a message goes: an SMTP server, files (development), or nowhere.

``open_transport(config)`` reads ``MAIL_URL``:

- ``smtp://host:port``: plain SMTP (a relay on the same host or network);
- ``smtp+starttls://user:password@host:587``: SMTP upgraded with STARTTLS;
- ``smtps://user:password@host:465``: SMTP over TLS from the first byte;
- ``none``: mail is switched off; messages stay queued;
- unset (development only; config.py refuses it in production): each message
  becomes an ``.eml`` file in ``MAIL_OUTBOX_DIR`` (``instance/outbox/``).

A transport is used for one dispatcher pass: ``send`` opens the SMTP
connection on the first message and reuses it, ``close`` ends it. Failures
come in two kinds the dispatcher treats differently: :class:`Refused` (the
server answered "not this message"; the others may still go) and
:class:`TransportError` (no server, or it went away: stop the pass).
Neither error's text ever holds an address or a body, so it can be stored.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from email.message import Message
from pathlib import Path
from urllib.parse import unquote, urlsplit

SMTP_TIMEOUT_SECONDS = 30
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class TransportError(Exception):
    """The server cannot be reached or used now: every message still waiting must wait."""


class Refused(Exception):
    """The server refused one message; ``permanent`` for a 5xx answer (retrying cannot help)."""

    def __init__(self, text: str, permanent: bool):
        super().__init__(text)
        self.permanent = permanent


def describe(error: BaseException) -> str:
    """A short, storable reason: the exception's kind and SMTP code, never an address."""
    name = type(error).__name__
    code = getattr(error, "smtp_code", None)
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        code = next(iter(error.recipients.values()))[0]
    if code is not None:
        return f"{name}: SMTP {code}"
    if isinstance(error, OSError) and error.strerror:
        return f"{name}: {error.strerror}"
    if isinstance(error, TimeoutError | ssl.SSLError):
        return f"{name}: {error}"
    return name


class SMTPTransport:
    def __init__(self, url: str):
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or DEFAULT_PORTS[self.scheme]
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self._smtp: smtplib.SMTP | None = None

    enabled = True

    @property
    def destination(self) -> str:
        """Where mail goes, for the Outbox page and the dispatcher's output (no password)."""
        user = f"{self.user}@" if self.user else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}"

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS, context=context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS)
        try:
            if self.scheme == "smtp+starttls":
                smtp.starttls(context=context)
            if self.user:
                smtp.login(self.user, self.password or "")
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: Message, sender: str, recipient: str) -> None:
        if self._smtp is None:
            try:
                self._smtp = self._connect()
            except (smtplib.SMTPException, OSError) as error:
                raise TransportError(describe(error)) from error
        try:
            self._smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
        except smtplib.SMTPRecipientsRefused as error:
            code = next(iter(error.recipients.values()))[0]
            raise Refused(describe(error), permanent=code >= 500) from error
        except smtplib.SMTPDataError as error:
            raise Refused(describe(error), permanent=error.smtp_code >= 500) from error
        except (smtplib.SMTPException, OSError) as error:
            # A dropped connection, a refused sender: the next message
            # would meet the same fate.
            self.close()
            raise TransportError(describe(error)) from error

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


class FileTransport:
    """Development: each message as ``<message id>.eml``, readable with any mail program.

    The name comes from the Message-ID, so delivering a message again
    rewrites its one file instead of adding a second.
    """

    enabled = True

    def __init__(self, directory: str):
        self.directory = Path(directory)

    @property
    def destination(self) -> str:
        return f"files in {self.directory}"

    def send(self, message: Message, sender: str, recipient: str) -> None:
        name = message["Message-ID"].strip("<>").split("@", 1)[0] + ".eml"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            # Written whole or not at all: a reader never sees half a message.
            handle, temporary = tempfile.mkstemp(dir=self.directory, suffix=".part")
            with os.fdopen(handle, "wb") as out:
                out.write(message.as_bytes())
            os.replace(temporary, self.directory / name)
        except OSError as error:
            raise TransportError(describe(error)) from error

    def close(self) -> None:
        pass


class DisabledTransport:
    """``MAIL_URL=none``: nothing is sent; messages wait in the outbox."""

    enabled = False
    destination = "nowhere (MAIL_URL=none)"

    def send(self, message: Message, sender: str, recipient: str) -> None:
        raise TransportError("mail is switched off (MAIL_URL=none)")

    def close(self) -> None:
        pass


def open_transport(config) -> SMTPTransport | FileTransport | DisabledTransport:
    url = config["MAIL_URL"]
    if url == "none":
        return DisabledTransport()
    if not url:
        return FileTransport(config["MAIL_OUTBOX_DIR"])
    return SMTPTransport(url)
