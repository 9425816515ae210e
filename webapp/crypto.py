"""Secrets at rest: Fernet tokens under the keys in MERCATO_ENCRYPTION_KEYS.

The first key encrypts; every key decrypts, so a key is rotated by putting the
new one first and running ``flask secrets rotate`` before dropping the old one.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


def _fernet() -> MultiFernet:
    keys = current_app.config["MERCATO_ENCRYPTION_KEYS"]
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise ValueError(
            "a stored secret cannot be decrypted with MERCATO_ENCRYPTION_KEYS"
        ) from exc


def rotate(token: str) -> str:
    return _fernet().rotate(token.encode()).decode()
