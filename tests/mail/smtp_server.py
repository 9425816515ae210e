"""A real SMTP server for the mail tests (aiosmtpd in a thread), whose behaviour a test sets:
accept, refuse a recipient with a reply, or drop the connection once the message's data is in
(delivered, but the answer lost)."""

from __future__ import annotations

import email
import socket
import threading
from email import policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Recorder:
    def __init__(self) -> None:
        self.received: list = []  # email.message.EmailMessage, with .envelope_to
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        self.drop_after_data = False
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply:
            return self.data_reply
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        message.envelope_from = envelope.mail_from
        message.envelope_to = list(envelope.rcpt_tos)
        with self.lock:
            self.received.append(message)
        if self.drop_after_data:
            server.transport.close()
            return "250 OK"  # never reaches the client
        return "250 2.0.0 Queued"


class SmtpServer:
    """``credentials``: (user, password) the server requires; ``tls_context``: it offers
    STARTTLS with that certificate (and requires it)."""

    def __init__(self, credentials=None, tls_context=None) -> None:
        self.recorder = Recorder()
        self.port = free_port()
        options = {}
        if credentials:

            def authenticator(server, session, envelope, mechanism, auth_data):
                ok = isinstance(auth_data, LoginPassword) and (
                    auth_data.login.decode(),
                    auth_data.password.decode(),
                ) == tuple(credentials)
                return AuthResult(success=ok, handled=False)

            options.update(
                authenticator=authenticator,
                auth_required=True,
                auth_require_tls=tls_context is not None,
            )
        if tls_context is not None:
            options.update(tls_context=tls_context, require_starttls=True)
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **options)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}?timeout=5"

    @property
    def received(self) -> list:
        return self.recorder.received

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
