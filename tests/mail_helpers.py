"""A real SMTP server for the mail tests: aiosmtpd on 127.0.0.1, in a thread."""

from __future__ import annotations

import email
import socket
import threading
from email import policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from groups import mail
from groups.db import database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """Keeps every envelope; answers RCPT for addresses starting with ``refuse-`` / ``later-``."""

    def __init__(self):
        self.envelopes: list[tuple[str, list[str], bytes]] = []
        self.peers: list[tuple[str, int]] = []  # the client end of each message's connection
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith("refuse-"):
            return "550 5.1.1 No such mailbox here"
        if address.startswith("later-"):
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.envelopes.append(
                (envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content)
            )
            self.peers.append(session.peer)
        return "250 OK"


class SMTPServer:
    """Start, stop and start again on the same port (an outage and its end)."""

    def __init__(self, login: tuple[str, str] | None = None):
        self.port = free_port()
        self.recorder = Recorder()
        self.login = login
        self.controller: Controller | None = None

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        given = (auth_data.login.decode(), auth_data.password.decode())
        # handled=False: aiosmtpd answers 535 itself (True would leave the client waiting).
        return AuthResult(success=given == self.login, handled=False)

    def start(self) -> None:
        options = {}
        if self.login:
            options = {"authenticator": self._authenticate, "auth_require_tls": False}
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def url(self) -> str:
        if self.login:
            return f"smtp://{self.login[0]}:{self.login[1]}@127.0.0.1:{self.port}"
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[email.message.EmailMessage]:
        return [
            email.message_from_bytes(raw, policy=policy.default)
            for _, _, raw in self.recorder.envelopes
        ]


def queue_test(app, user, key="1", **kwargs):
    """Queue one ``test`` message to ``user`` in its own transaction."""
    kwargs.setdefault("subject", "Test message")
    kwargs.setdefault("context", {"destination": "the test server"})
    with app.app_context(), database.atomic():
        return mail.queue("test", to=user, key=key, **kwargs)


def run_pass(app):
    with app.app_context(), database.connection_context():
        return mail.run_pass()
