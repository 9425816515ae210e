"""The mail catcher of `make run` (sandbox/mailcatcher.py), as its own process: an e-mail sent
to its SMTP port is kept and readable in its web inbox, the HTML part only inside a sandboxed
frame, everything else escaped."""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import time
import urllib.request
from email.message import EmailMessage
from pathlib import Path

from tests.mail.smtp_server import free_port

ROOT = Path(__file__).resolve().parents[2]


def get(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return response.status, response.read().decode(), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(), dict(exc.headers)


def test_the_catcher_keeps_and_shows_what_it_receives(tmp_path):
    smtp_port, web_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.mailcatcher",
            "--smtp-port",
            str(smtp_port),
            "--web-port",
            str(web_port),
            "--dir",
            str(tmp_path / "mail"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{web_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert get(f"{base}/api/messages")[1] == "[]"
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = "shop@acme.test", "c@x.test", "Keys <b>"
        email.set_content("Your key: <script>x</script>")
        email.add_alternative("<p>Key</p><script>alert(1)</script>", subtype="html")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as client:
            client.send_message(email)
        [listed] = json.loads(get(f"{base}/api/messages")[1])
        assert listed["subject"] == "Keys <b>" and listed["to"] == "c@x.test"
        index = get(f"{base}/")[1]
        assert "Keys &lt;b&gt;" in index and "<b>" not in index.split("<body>")[1]
        status, page, headers = get(f"{base}/m/{listed['id']}")
        assert status == 200 and "default-src 'none'" in headers["Content-Security-Policy"]
        assert "<script>" not in page  # the HTML part is only in the frame's srcdoc, escaped
        assert "<iframe sandbox" in page and "&lt;script&gt;alert(1)" in page
        assert "Your key: &lt;script&gt;x&lt;/script&gt;" in page
        assert get(f"{base}/m/99")[0] == 404
        assert len(list((tmp_path / "mail").glob("*.eml"))) == 1  # kept on disk
        # An attachment (a key delivered as an image) is listed, shown and downloadable.
        png = b"\x89PNG\r\n\x1a\n" + b"0" * 40
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = "shop@acme.test", "c@x.test", "Image"
        email.set_content("Your key is attached.")
        email.add_attachment(png, maintype="image", subtype="png", filename="key <1>.png")
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=5) as client:
            client.send_message(email)
        second = max(m["id"] for m in json.loads(get(f"{base}/api/messages")[1]))
        page = get(f"{base}/m/{second}")[1]
        assert "key &lt;1&gt;.png</a> (image/png, 48 bytes)" in page
        assert "src='data:image/png;base64," in page
        with urllib.request.urlopen(f"{base}/m/{second}/a/0", timeout=5) as got:  # noqa: S310
            assert got.read() == png and got.headers["Content-Type"] == "image/png"
        assert get(f"{base}/m/{second}/a/1")[0] == 404
    finally:
        proc.terminate()
        proc.wait(timeout=10)
