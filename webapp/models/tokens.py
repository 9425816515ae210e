"""Personal API tokens: shown once, stored as a SHA-256 hash, revocable."""

from __future__ import annotations

import hashlib
import secrets

from webapp.extensions import db
from webapp.models.base import utcnow

TOKEN_PREFIX = "mct_"  # noqa: S105 - a public marker, not a secret

# What a token opens: "api" the REST API as its user; "operator" only the monitoring
# endpoints (/health/marketplace-integrations, /metrics), for scrapers and on-call tools.
SCOPE_API = "api"
SCOPE_OPERATOR = "operator"
SCOPES = (SCOPE_API, SCOPE_OPERATOR)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id = db.Column(db.Integer, primary_key=True)
    user_id = db.Column(
        db.Integer, db.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name = db.Column(db.String(100), nullable=False)
    token_hash = db.Column(db.String(64), nullable=False, unique=True)
    # The first characters, so a person can tell tokens apart without the secret.
    display_prefix = db.Column(db.String(16), nullable=False)
    scope = db.Column(db.String(16), nullable=False, default=SCOPE_API, server_default=SCOPE_API)
    created_at = db.Column(db.DateTime, nullable=False, default=utcnow)
    last_used_at = db.Column(db.DateTime)
    revoked_at = db.Column(db.DateTime)

    user = db.relationship("User")

    @classmethod
    def issue(cls, user, name: str, scope: str = SCOPE_API) -> tuple[ApiToken, str]:
        """Create a token for ``user``; returns (row, the token itself, shown once)."""
        if scope not in SCOPES:
            raise ValueError(f"unknown token scope {scope!r}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = cls(
            user_id=user.id,
            name=name.strip()[:100] or "API token",
            token_hash=hash_token(token),
            display_prefix=token[:12],
            scope=scope,
        )
        db.session.add(row)
        return row, token

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
