"""Extensions created unbound; ``create_app`` binds them."""

from __future__ import annotations

from flask import current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis import Redis
from rq import Queue
from sqlalchemy import MetaData

# Stable constraint names so Alembic revisions read the same on SQLite and PostgreSQL.
naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=naming_convention))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()

QUEUE_NAMES = ("imports", "default")


def redis_connection() -> Redis:
    """The app's Redis connection (one per app, created lazily)."""
    app = current_app._get_current_object()
    conn = app.extensions.get("mercato_redis")
    if conn is None:
        conn = Redis.from_url(app.config["REDIS_URL"])
        app.extensions["mercato_redis"] = conn
    return conn


def queue(name: str = "default") -> Queue:
    prefix = current_app.config.get("MERCATO_QUEUE_PREFIX", "")
    return Queue(prefix + name, connection=redis_connection())
