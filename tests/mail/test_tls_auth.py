"""STARTTLS (the certificate verified against the CA in the URL) and credentials, on a real
SMTP server that requires both; a wrong password is refused for good, and never shown."""

from __future__ import annotations

import datetime
import ipaddress
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.mail import helpers
from tests.mail.smtp_server import SmtpServer
from webapp.extensions import db
from webapp.mail import queue_mail, sender
from webapp.models import MailMessage, Message


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_path, key_path)
    return context, cert_path


@pytest.fixture
def tls_server(app, tmp_path):
    context, cert_path = self_signed(tmp_path)
    server = SmtpServer(credentials=("shop", "s3cret:pw"), tls_context=context).start()
    server.cafile = cert_path
    yield server
    server.stop()


def send_one(store) -> MailMessage:
    message_id = queue_mail(
        store_id=store.id,
        account_id=None,
        kind=helpers.KIND,
        to="c@example.test",
        subject_type="order",
        subject_id=1,
    )
    db.session.commit()
    sender.send_due(store.id)
    return db.session.get(MailMessage, message_id)


def test_starttls_and_login(app, store, tls_server):
    helpers.add_templates(store.id)
    app.config["MERCATO_SMTP_URL"] = (
        f"smtp://shop:s3cret%3Apw@127.0.0.1:{tls_server.port}"
        f"?starttls=1&cafile={tls_server.cafile}&timeout=5"
    )
    assert send_one(store).status == "sent"
    assert len(tls_server.received) == 1


def test_a_wrong_password_is_an_error_and_never_shown(app, store, tls_server):
    helpers.add_templates(store.id)
    app.config["MERCATO_SMTP_URL"] = (
        f"smtp://shop:hunter2@127.0.0.1:{tls_server.port}"
        f"?starttls=1&cafile={tls_server.cafile}&timeout=5"
    )
    message = send_one(store)
    assert message.status == "error" and message.last_error.startswith(
        "the SMTP server answered the login with 535"
    )
    assert "hunter2" not in message.last_error
    assert not any("hunter2" in m.error_message for m in db.session.query(Message))
    assert tls_server.received == []


def test_an_untrusted_certificate_is_refused(app, store, tls_server):
    helpers.add_templates(store.id)
    app.config["MERCATO_SMTP_URL"] = (
        f"smtp://shop:s3cret%3Apw@127.0.0.1:{tls_server.port}?starttls=1"
    )
    message = send_one(store)
    assert message.status == "failed" and "CERTIFICATE_VERIFY_FAILED" in message.last_error
    assert tls_server.received == []
