"""A key's code at rest: Fernet-encrypted (``webapp.crypto``), fingerprinted for dedup.

The fingerprint is an HMAC-SHA256 of the store id and the code under ``SECRET_KEY``: two
uploads of one key to a store collide on ``uq_digital_keys_store_fingerprint`` without any
code being decrypted, and the fingerprint says nothing about the code to whoever reads the
table. (Changing ``SECRET_KEY`` changes fingerprints: keys uploaded before are no longer
recognised as duplicates of keys uploaded after.)
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from flask import current_app

from webapp.crypto import decrypt, encrypt
from webapp.models.keys import IMAGE


def normalise(code: str) -> str:
    """The code as it is stored and compared: surrounding blanks dropped."""
    return code.strip()


def fingerprint(store_id: int, code: str) -> str:
    secret = current_app.config["SECRET_KEY"]
    secret = secret.encode() if isinstance(secret, str) else secret
    message = f"{store_id}:{normalise(code)}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def seal(code: str) -> str:
    return encrypt(normalise(code))


def seal_image(data: bytes) -> str:
    """An image code (the supplier's PNG...): its bytes, base64, encrypted."""
    return encrypt(base64.b64encode(data).decode("ascii"))


def fingerprint_image(store_id: int, data: bytes) -> str:
    return fingerprint(store_id, "image:" + hashlib.sha256(data).hexdigest())


def open_text(key) -> str:
    """The clear code of a text key (callers record the reveal: webapp.keys.pool.reveal)."""
    if key.code_type == IMAGE:
        raise ValueError("an image key has no text: open_image")
    return decrypt(key.code_encrypted)


def open_image(key) -> bytes:
    if key.code_type != IMAGE:
        raise ValueError("a text key has no image: open_text")
    return base64.b64decode(decrypt(key.code_encrypted))


def masked(code: str) -> str:
    """What pages, logs and the CLI show of a code: its last 4 characters at most."""
    code = normalise(code)
    tail = code[-4:] if len(code) > 8 else ""
    return "••••" + tail
