"""A store's accounts on connectors (marketplaces and hubs), with their secrets encrypted.

Settings (account id, base URL...) are plain JSON; secrets (access tokens, API keys)
are one Fernet token of a JSON object under MERCATO_ENCRYPTION_KEYS, never shown back:
pages and logs see :meth:`Account.masked_secrets` only.
"""

from __future__ import annotations

import json

from webapp.crypto import decrypt, encrypt, rotate
from webapp.extensions import db
from webapp.models.base import JSONType, TimestampMixin, utcnow

MASK = "********"


class Account(TimestampMixin, db.Model):
    __tablename__ = "accounts"

    id = db.Column(db.Integer, primary_key=True)
    store_id = db.Column(db.Integer, db.ForeignKey("stores.id", ondelete="CASCADE"), nullable=False)
    connector = db.Column(db.String(32), nullable=False)
    name = db.Column(db.String(255), nullable=False)
    settings = db.Column(JSONType, nullable=False, default=dict)
    secrets_encrypted = db.Column(db.Text)
    # A new account is in test mode: it reads for real, and what it would change on the
    # marketplace is recorded as a dry run (outbound_calls) until it goes live.
    is_live = db.Column(db.Boolean, nullable=False, default=False)
    retired_at = db.Column(db.DateTime)
    store = db.relationship("Store")
    # The order-import feed, whose cursor is the account's last successful order poll.
    order_feed = db.relationship(
        "Feed",
        primaryjoin="and_(Feed.account_id == Account.id, Feed.kind == 'import_orders')",
        uselist=False,
        viewonly=True,
    )

    __table_args__ = (db.Index("ix_accounts_store_connector", "store_id", "connector"),)

    @property
    def mode(self) -> str:
        return "live" if self.is_live else "test"

    @property
    def last_sync_at(self):
        """The last successful order poll (its order-import feed's cursor)."""
        return self.order_feed.last_sync_at if self.order_feed is not None else None

    @property
    def is_retired(self) -> bool:
        return self.retired_at is not None

    def retire(self) -> None:
        self.retired_at = self.retired_at or utcnow()

    def reinstate(self) -> None:
        self.retired_at = None

    def set_secrets(self, values: dict[str, str]) -> None:
        """Replace the secrets; an empty value keeps the stored one (forms are write-only)."""
        merged = self.secrets() if self.secrets_encrypted else {}
        merged.update({k: v for k, v in values.items() if v not in (None, "")})
        self.secrets_encrypted = encrypt(json.dumps(merged, sort_keys=True))

    def secrets(self) -> dict[str, str]:
        if not self.secrets_encrypted:
            return {}
        return json.loads(decrypt(self.secrets_encrypted))

    def masked_secrets(self) -> dict[str, str]:
        return dict.fromkeys(self.secrets(), MASK)

    def rotate_secrets(self) -> None:
        if self.secrets_encrypted:
            self.secrets_encrypted = rotate(self.secrets_encrypted)

    def __repr__(self) -> str:  # never the secrets
        return f"<Account {self.id} {self.connector} {self.name!r}>"
