"""The mail catcher of `make run`: an SMTP server that keeps every e-mail it receives, and a
small web inbox to read them (nothing is ever delivered anywhere).

    python -m sandbox.mailcatcher [--smtp-port 1025] [--web-port 8025] [--dir instance/mail]

SMTP on 127.0.0.1:$MERCATO_MAILCATCHER_SMTP_PORT (default 1025, what ``make run`` sets
``MERCATO_SMTP_URL`` to), the inbox on http://127.0.0.1:$MERCATO_MAILCATCHER_WEB_PORT/
(default 8025). Each message is one ``.eml`` file in the folder (kept across restarts;
delete them to empty the inbox). The inbox shows the list, then a message's headers, its
text part as escaped text and its HTML part in a sandboxed iframe (no scripts, no
same-origin, nothing loaded from outside by the page's Content-Security-Policy), then its
attachments (an image shown inline, each downloadable from ``/m/<n>/a/<index>``).
``GET /api/messages`` lists them as JSON (the demo and the tests read it).
"""

from __future__ import annotations

import argparse
import base64
import email
import html
import json
import os
import re
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent


class Mailbox:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def ids(self) -> list[int]:
        return sorted(
            (int(p.stem) for p in self.folder.glob("*.eml") if p.stem.isdigit()), reverse=True
        )

    def add(self, data: bytes, mail_from: str, rcpt_tos: list[str]) -> int:
        with self.lock:
            number = (max(self.ids(), default=0)) + 1
            envelope = f"X-Mailcatcher-Envelope: from={mail_from} to={','.join(rcpt_tos)}\r\n"
            (self.folder / f"{number:06d}.eml").write_bytes(envelope.encode() + data)
            return number

    def get(self, number: int):
        path = self.folder / f"{number:06d}.eml"
        if not path.is_file():
            return None
        return path.read_bytes()

    def parsed(self, number: int):
        raw = self.get(number)
        return None if raw is None else email.message_from_bytes(raw, policy=policy.default)

    def summary(self, number: int) -> dict:
        message = self.parsed(number)
        return {
            "id": number,
            "from": str(message.get("From", "")),
            "to": str(message.get("To", "")),
            "subject": str(message.get("Subject", "")),
            "date": str(message.get("Date", "")),
            "message_id": str(message.get("Message-ID", "")),
        }


class Handler:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server, session, envelope):
        number = self.mailbox.add(
            envelope.original_content or envelope.content,
            envelope.mail_from,
            list(envelope.rcpt_tos),
        )
        print(
            f"mailcatcher: message {number} from {envelope.mail_from}"
            f" to {', '.join(envelope.rcpt_tos)}",
            flush=True,
        )
        return "250 2.0.0 Caught"


STYLE = (
    "body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}"
    "table{border-collapse:collapse;width:100%}"
    "td,th{padding:.4rem .6rem;border-bottom:1px solid #ddd;text-align:left}"
    "a{color:#0a58ca}pre{white-space:pre-wrap;background:#f6f6f6;padding:1rem}"
    "iframe{width:100%;height:28rem;border:1px solid #ccc}dt{font-weight:600}"
)


def page(title: str, body: str) -> bytes:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    ).encode()


def web_handler(mailbox: Mailbox):
    class Web(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # quiet: honcho shows SMTP arrivals instead
            pass

        def send(self, status: int, body: bytes, kind: str = "text/html; charset=utf-8"):
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header(
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-src 'self'",
            )
            self.send_header("X-Content-Type-Options", "nosniff")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path == "/":
                return self.send(200, self.index())
            if path == "/api/messages":
                items = [mailbox.summary(n) for n in mailbox.ids()]
                return self.send(200, json.dumps(items).encode(), "application/json")
            attached = re.fullmatch(r"/m/(\d+)/a/(\d+)", path)
            if attached and mailbox.get(int(attached[1])) is not None:
                parts = list(mailbox.parsed(int(attached[1])).iter_attachments())
                index = int(attached[2])
                if index < len(parts):
                    part = parts[index]
                    # Served as what it is, never as HTML (the catcher's own page is not
                    # the place to run an e-mail's content).
                    kind = part.get_content_type()
                    if not kind.startswith("image/") or kind == "image/svg+xml":
                        kind = "application/octet-stream"
                    return self.send(200, part.get_payload(decode=True) or b"", kind)
            found = re.fullmatch(r"/m/(\d+)(\.eml)?", path)
            if found and mailbox.get(int(found[1])) is not None:
                number = int(found[1])
                if found[2]:
                    return self.send(200, mailbox.get(number), "text/plain; charset=utf-8")
                return self.send(200, self.message(number))
            return self.send(
                404, page("Not found", "<p>No such message. <a href='/'>Inbox</a></p>")
            )

        def index(self) -> bytes:
            rows = "".join(
                "<tr><td>{id}</td><td>{date}</td><td>{frm}</td><td>{to}</td>"
                "<td><a href='/m/{id}'>{subject}</a></td></tr>".format(
                    id=s["id"],
                    date=html.escape(s["date"]),
                    frm=html.escape(s["from"]),
                    to=html.escape(s["to"]),
                    subject=html.escape(s["subject"] or "(no subject)"),
                )
                for s in (mailbox.summary(n) for n in mailbox.ids())
            )
            body = (
                "<h1>Mail catcher</h1><p>Every e-mail Mercato sends in <code>make run</code> "
                "lands here; nothing is delivered.</p>"
                + (
                    f"<table><tr><th>#</th><th>Date</th><th>From</th><th>To</th><th>Subject</th>"
                    f"</tr>{rows}</table>"
                    if rows
                    else "<p><em>No e-mail yet.</em></p>"
                )
            )
            return page("Mail catcher", body)

        def message(self, number: int) -> bytes:
            message = mailbox.parsed(number)
            headers = "".join(
                f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>"
                for k, v in message.items()
            )
            text_part = message.get_body(("plain",))
            html_part = message.get_body(("html",))
            parts = ""
            if html_part is not None:
                parts += (
                    "<h2>HTML</h2><iframe sandbox title='HTML part' srcdoc=\""
                    + html.escape(html_part.get_content(), quote=True)
                    + '"></iframe>'
                )
            if text_part is not None:
                parts += "<h2>Text</h2><pre>" + html.escape(text_part.get_content()) + "</pre>"
            attachments = ""
            for index, part in enumerate(message.iter_attachments()):
                link = f"/m/{number}/a/{index}"
                name = html.escape(part.get_filename() or f"attachment {index + 1}")
                kind = part.get_content_type()
                data = part.get_payload(decode=True) or b""
                size = len(data)
                shown = ""
                if kind in ("image/png", "image/jpeg", "image/gif", "image/webp"):
                    # Inline (the page's policy loads images from data: only).
                    inline = base64.b64encode(data).decode("ascii")
                    shown = (
                        f"<br><img src='data:{kind};base64,{inline}' alt='{name}' "
                        "style='max-width:480px'>"
                    )
                attachments += (
                    f"<li><a href='{link}'>{name}</a> ({html.escape(kind)}, {size} bytes)"
                    f"{shown}</li>"
                )
            if attachments:
                parts += f"<h2>Attachments</h2><ul>{attachments}</ul>"
            body = (
                f"<p><a href='/'>&larr; Inbox</a> &middot; <a href='/m/{number}.eml'>raw</a></p>"
                f"<h1>{html.escape(str(message.get('Subject', '(no subject)')))}</h1>"
                f"<dl>{headers}</dl>{parts}"
            )
            return page(str(message.get("Subject", "")), body)

    return Web


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--smtp-port", type=int, default=int(os.environ.get("MERCATO_MAILCATCHER_SMTP_PORT", 1025))
    )
    parser.add_argument(
        "--web-port", type=int, default=int(os.environ.get("MERCATO_MAILCATCHER_WEB_PORT", 8025))
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--dir",
        default=os.environ.get("MERCATO_MAILCATCHER_DIR", str(ROOT / "instance" / "mail")),
    )
    args = parser.parse_args(argv)
    mailbox = Mailbox(Path(args.dir))
    controller = Controller(Handler(mailbox), hostname=args.host, port=args.smtp_port)
    controller.start()
    web = ThreadingHTTPServer((args.host, args.web_port), web_handler(mailbox))
    print(
        f"mailcatcher: SMTP on {args.host}:{args.smtp_port}, inbox on "
        f"http://{args.host}:{args.web_port}/ (messages in {args.dir})",
        flush=True,
    )
    try:
        web.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        web.server_close()
        controller.stop()


if __name__ == "__main__":
    main()
