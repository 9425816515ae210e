"""SMTP delivery: ``MERCATO_SMTP_URL`` read, one message handed to the server, every failure
graded by what the server said.

``MERCATO_SMTP_URL``: ``smtp://[user:password@]host[:port][?starttls=1&timeout=30]`` (plain,
or STARTTLS with ``starttls=1``; port 25 by default) or ``smtps://...`` (TLS from the first
byte; port 465); ``cafile=PATH`` trusts that CA instead of the system's. The server's
certificate is always verified. The password is shown nowhere: pages and logs get :func:`masked`.

:func:`deliver` raises :class:`SmtpFailure` with a ``grade``:

- ``transient``: nothing was taken and it may pass (connection refused or dropped before the
  message's data, a timeout connecting, any 4xx reply): retried with backoff;
- ``permanent``: the server refused it for good (a 5xx reply, authentication refused);
- ``unknown``: the connection failed after the message's data was sent and before the
  server's answer. The server may have queued it, and SMTP has no way to ask: it is never
  sent again by itself (a person resends).
"""

from __future__ import annotations

import re
import smtplib
import ssl
from dataclasses import dataclass
from urllib.parse import parse_qs, quote, unquote, urlsplit

TRANSIENT, PERMANENT, UNKNOWN = "transient", "permanent", "unknown"


class SmtpConfigError(ValueError):
    pass


class SmtpFailure(Exception):
    def __init__(self, grade: str, words: str, code: int | None = None) -> None:
        super().__init__(words)
        self.grade = grade
        self.words = words
        self.code = code


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: bool = False  # smtps://
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout: float = 30.0
    cafile: str | None = None  # the CA to trust instead of the system's (a private one)

    def masked(self) -> str:
        scheme = "smtps" if self.tls else "smtp"
        auth = f"{quote(self.user, safe='')}:********@" if self.user else ""
        query = "?starttls=1" if self.starttls else ""
        return f"{scheme}://{auth}{self.host}:{self.port}{query}"


def parse_url(url: str) -> SmtpSettings:
    """``MERCATO_SMTP_URL`` read, or a clear :class:`SmtpConfigError` (never echoing the
    password)."""
    parts = urlsplit((url or "").strip())
    if parts.scheme not in ("smtp", "smtps"):
        raise SmtpConfigError("MERCATO_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise SmtpConfigError("MERCATO_SMTP_URL has no host")
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError as exc:
        raise SmtpConfigError("MERCATO_SMTP_URL has an invalid port") from exc
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["0"])[-1].lower() in ("1", "true", "yes")
    try:
        timeout = float(query.get("timeout", ["30"])[-1])
    except ValueError as exc:
        raise SmtpConfigError("MERCATO_SMTP_URL: timeout must be a number of seconds") from exc
    cafile = query.get("cafile", [None])[-1]
    return SmtpSettings(
        cafile=cafile,
        host=parts.hostname,
        port=port,
        tls=parts.scheme == "smtps",
        starttls=starttls and parts.scheme == "smtp",
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        timeout=timeout,
    )


def masked(url: str | None) -> str:
    """The URL as pages and logs may show it (password replaced), or "not set"."""
    if not url:
        return "not set"
    try:
        return parse_url(url).masked()
    except SmtpConfigError as exc:
        return f"invalid ({exc})"


def _words(code: int, reply) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {text}".strip()


def _refused(step: str, code: int, reply) -> SmtpFailure:
    grade = TRANSIENT if 400 <= code < 500 else PERMANENT
    return SmtpFailure(grade, f"the SMTP server answered {step} with {_words(code, reply)}", code)


def _data_bytes(message: bytes) -> bytes:
    """The message as DATA carries it: CRLF line ends, a leading dot doubled, the end mark."""
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", message)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def deliver(settings: SmtpSettings, sender: str, recipient: str, message: bytes) -> str:
    """Hand ``message`` to the server for ``recipient``; returns the server's final reply.
    Raises :class:`SmtpFailure` (graded) on any failure."""
    try:
        context = ssl.create_default_context(cafile=settings.cafile)
    except (OSError, ssl.SSLError) as exc:
        words = f"the CA file {settings.cafile} cannot be read ({exc})"
        raise SmtpFailure(PERMANENT, words) from exc
    try:
        if settings.tls:
            conn = smtplib.SMTP_SSL(
                settings.host, settings.port, timeout=settings.timeout, context=context
            )
        else:
            conn = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    except smtplib.SMTPResponseException as exc:
        raise _refused("the connection", exc.smtp_code, exc.smtp_error) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise SmtpFailure(
            TRANSIENT, f"could not connect to {settings.host}:{settings.port} ({exc})"
        ) from exc
    after_data = False
    try:
        conn.ehlo_or_helo_if_needed()
        if settings.starttls:
            conn.starttls(context=context)
            conn.ehlo()
        if settings.user:
            try:
                conn.login(settings.user, settings.password or "")
            except smtplib.SMTPAuthenticationError as exc:
                raise _refused("the login", exc.smtp_code, exc.smtp_error) from exc
        code, reply = conn.mail(sender)
        if code != 250:
            raise _refused("MAIL FROM", code, reply)
        code, reply = conn.rcpt(recipient)
        if code not in (250, 251):
            raise _refused("RCPT TO", code, reply)
        code, reply = conn.docmd("DATA")
        if code != 354:
            raise _refused("DATA", code, reply)
        after_data = True  # from here a lost connection leaves the outcome unknown
        conn.send(_data_bytes(message))
        code, reply = conn.getreply()
        if code != 250:
            raise _refused("the message", code, reply)
        return _words(code, reply)
    except SmtpFailure:
        raise
    except smtplib.SMTPResponseException as exc:
        raise _refused("a command", exc.smtp_code, exc.smtp_error) from exc
    except (OSError, smtplib.SMTPException) as exc:
        if after_data:
            raise SmtpFailure(
                UNKNOWN,
                f"the connection to {settings.host}:{settings.port} failed after the message "
                f"was sent and before the server answered ({exc or type(exc).__name__})",
            ) from exc
        raise SmtpFailure(
            TRANSIENT, f"the SMTP conversation failed ({exc or type(exc).__name__})"
        ) from exc
    finally:
        try:
            conn.quit()
        except (OSError, smtplib.SMTPException):
            conn.close()
