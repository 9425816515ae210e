"""Every setting Mercato reads, parsed once from the environment.

Nothing else in the code base reads ``os.environ``.  Production (the default
``MERCATO_ENV``) refuses to start without a real ``SECRET_KEY``; development
and test may generate the missing secrets into a git-ignored local file.
"""

from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

from connectors.egress import parse_allowlist

ROOT = Path(__file__).resolve().parent.parent
LOCAL_SECRETS_FILE = ROOT / ".mercato-secrets.env"
ENVIRONMENTS = ("production", "development", "test")


class ConfigError(RuntimeError):
    """A setting is missing or malformed: the process must not start."""


def parse_bool(value: str | None, default: bool = False) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def parse_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def parse_int(name: str, value: str | None, default: int) -> int:
    if value is None or value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, not {value!r}") from exc


def parse_count(name: str, value: str | None, default: int) -> int:
    """A whole number, 0 or more."""
    number = parse_int(name, value, default)
    if number < 0:
        raise ConfigError(f"{name} must be 0 or more, not {value!r}")
    return number


def parse_seconds(name: str, value: str | None, default: float) -> float:
    """A non-negative number of seconds, fractions allowed ('0.5')."""
    if value is None or value.strip() == "":
        return default
    try:
        seconds = float(value)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number of seconds, not {value!r}") from exc
    if not seconds >= 0 or seconds == float("inf"):
        raise ConfigError(f"{name} must be a number of seconds, not {value!r}")
    return seconds


def parse_size(name: str, value: str | None, default: int) -> int:
    """Bytes from '200MB', '2 GB', '1048576'."""
    if value is None or value.strip() == "":
        return default
    text = value.strip().upper().replace(" ", "")
    units = {"KB": 1024, "MB": 1024**2, "GB": 1024**3, "B": 1}
    number, factor = text, 1
    for suffix, unit in units.items():
        if text.endswith(suffix):
            number, factor = text[: -len(suffix)], unit
            break
    # Digits only: "MB" alone must not fall back to the default times a unit, nor "-5MB" pass.
    if not (number.isascii() and number.isdigit()):
        raise ConfigError(
            f"{name} must be a size such as 200MB or a number of bytes, not {value!r}"
        )
    return int(number) * factor


def database_url(value: str | None) -> str:
    """Heroku hands out ``postgres://``; SQLAlchemy wants a dialect+driver."""
    if not value:
        instance = ROOT / "instance"
        instance.mkdir(exist_ok=True)
        return f"sqlite:///{instance / 'mercato.sqlite3'}"
    for prefix in ("postgres://", "postgresql://"):
        if value.startswith(prefix):
            return "postgresql+psycopg://" + value[len(prefix) :]
    return value


def _read_local_secrets() -> dict[str, str]:
    values: dict[str, str] = {}
    if LOCAL_SECRETS_FILE.exists():
        for line in LOCAL_SECRETS_FILE.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                key, _, val = line.partition("=")
                values[key.strip()] = val.strip()
    return values


def _generate_local_secrets(missing: list[str]) -> dict[str, str]:
    """Create the secrets a development or test machine lacks, once, on disk.

    Processes that start together (make run's web, worker and scheduler; the test workers of
    a parallel run) must all end up with the same secrets: the file is read, completed and
    written under an exclusive lock on it, so the first one writes and the others read."""
    generators = {
        "SECRET_KEY": lambda: secrets.token_urlsafe(48),
        "MERCATO_ENCRYPTION_KEYS": lambda: Fernet.generate_key().decode(),
    }
    if LOCAL_SECRETS_FILE.exists():  # the usual case: read them (a writer is never half-read)
        with LOCAL_SECRETS_FILE.open() as fh:
            fcntl.flock(fh, fcntl.LOCK_SH)
            values = _read_local_secrets()
        if all(name in values for name in missing):
            return values
    # Created 0600 from the start: never readable by others, not even for a moment.
    fd = os.open(LOCAL_SECRETS_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)  # released when the file is closed
        values = _read_local_secrets()
        changed = False
        for name in missing:
            if name not in values:
                values[name] = generators[name]()
                changed = True
        if changed:
            body = "# Generated by Mercato for development/test only. Never commit.\n"
            body += "".join(f"{k}={v}\n" for k, v in sorted(values.items()))
            fh.seek(0)
            fh.truncate()
            fh.write(body)
            fh.flush()
        LOCAL_SECRETS_FILE.chmod(0o600)
    return values


def load(env: dict[str, str] | None = None) -> dict:
    """Build the Flask config mapping from an environment (``os.environ`` by default)."""
    env = dict(os.environ if env is None else env)
    mode = env.get("MERCATO_ENV", "production").strip() or "production"
    if mode not in ENVIRONMENTS:
        raise ConfigError(f"MERCATO_ENV must be one of {', '.join(ENVIRONMENTS)}, not {mode!r}")

    secret_names = ("SECRET_KEY", "MERCATO_ENCRYPTION_KEYS")
    missing = [n for n in secret_names if not env.get(n)]
    if missing:
        if mode == "production":
            raise ConfigError(
                f"{' and '.join(missing)} must be set in production "
                "(see README: Configuration). Refusing to start. On a development machine "
                "set MERCATO_ENV=development, or run the CLI as scripts/flask."
            )
        generated = _generate_local_secrets(missing)
        for name in missing:
            env[name] = generated[name]
    if mode == "production" and len(env["SECRET_KEY"]) < 32:
        raise ConfigError("SECRET_KEY must be at least 32 characters in production.")

    outbound_allow = parse_list(env.get("MERCATO_OUTBOUND_ALLOW"))
    try:  # a typo stops the start, not the first feed download
        parse_allowlist(outbound_allow)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc

    work_dir = Path(env.get("MERCATO_WORK_DIR") or ROOT / "instance" / "work")
    return {
        "MERCATO_ENV": mode,
        "TESTING": mode == "test",
        "SECRET_KEY": env["SECRET_KEY"],
        "MERCATO_ENCRYPTION_KEYS": parse_list(env["MERCATO_ENCRYPTION_KEYS"]),
        "SQLALCHEMY_DATABASE_URI": database_url(env.get("DATABASE_URL")),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": env.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        "MERCATO_QUEUE_PREFIX": env.get("MERCATO_QUEUE_PREFIX", ""),
        "MERCATO_OUTBOUND_ALLOW": outbound_allow,
        "MERCATO_FETCH_MAX_BYTES": parse_size(
            "MERCATO_FETCH_MAX_BYTES", env.get("MERCATO_FETCH_MAX_BYTES"), 2 * 1024**3
        ),
        "MERCATO_FETCH_TIMEOUT": parse_int(
            "MERCATO_FETCH_TIMEOUT", env.get("MERCATO_FETCH_TIMEOUT"), 30
        ),
        "MERCATO_UPLOAD_MAX_BYTES": parse_size(
            "MERCATO_UPLOAD_MAX_BYTES", env.get("MERCATO_UPLOAD_MAX_BYTES"), 200 * 1024**2
        ),
        "MERCATO_WORK_DIR": str(work_dir),
        # The catalog export's run says so when a hub has not fetched a feed for this long.
        "MERCATO_CATALOG_FEED_STALE_HOURS": parse_count(
            "MERCATO_CATALOG_FEED_STALE_HOURS", env.get("MERCATO_CATALOG_FEED_STALE_HOURS"), 48
        ),
        "MERCATO_IMPORT_JOB_TIMEOUT": parse_int(
            "MERCATO_IMPORT_JOB_TIMEOUT", env.get("MERCATO_IMPORT_JOB_TIMEOUT"), 4 * 3600
        ),
        # Feed executions renew a Redis key this long; one not renewed for as long is dead.
        "MERCATO_RUN_HEARTBEAT_TTL": parse_int(
            "MERCATO_RUN_HEARTBEAT_TTL", env.get("MERCATO_RUN_HEARTBEAT_TTL"), 60
        ),
        "MERCATO_FEED_ABANDON_RETRIES": parse_int(
            "MERCATO_FEED_ABANDON_RETRIES", env.get("MERCATO_FEED_ABANDON_RETRIES"), 3
        ),
        # A marketplace call that failed is retried after up to base * 2**k seconds (jittered).
        "MERCATO_CONNECTOR_BACKOFF_BASE": parse_seconds(
            "MERCATO_CONNECTOR_BACKOFF_BASE", env.get("MERCATO_CONNECTOR_BACKOFF_BASE"), 1.0
        ),
        # Real-time stock strategy: a burst of stock changes is pushed this long after its first
        # change, as one update per SKU (webapp/stock/dirty.py); 0 enqueues at once.
        "MERCATO_REALTIME_PUSH_DELAY": parse_seconds(
            "MERCATO_REALTIME_PUSH_DELAY", env.get("MERCATO_REALTIME_PUSH_DELAY"), 2.0
        ),
        # An order action the marketplace has not settled (sent, or queued) this long after it
        # was sent raises an inbox message about its order (webapp/orders/shipping.py).
        "MERCATO_ACTION_STUCK_AFTER": parse_seconds(
            "MERCATO_ACTION_STUCK_AFTER", env.get("MERCATO_ACTION_STUCK_AFTER"), 7200.0
        ),
        # Reverse proxies in front of web whose X-Forwarded-For/-Proto are believed (Heroku: 1).
        "MERCATO_TRUSTED_PROXIES": parse_count(
            "MERCATO_TRUSTED_PROXIES", env.get("MERCATO_TRUSTED_PROXIES"), 0
        ),
        # Each SQL statement of a web request stops after this many seconds (0: never), so
        # no page holds a web worker for long (webapp/statement_timeout.py).
        "MERCATO_WEB_STATEMENT_TIMEOUT": parse_seconds(
            "MERCATO_WEB_STATEMENT_TIMEOUT", env.get("MERCATO_WEB_STATEMENT_TIMEOUT"), 5.0
        ),
        "SESSION_COOKIE_SECURE": parse_bool(
            env.get("MERCATO_SECURE_COOKIES"), default=mode == "production"
        ),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "LOG_LEVEL": env.get("MERCATO_LOG_LEVEL", "INFO").upper(),
        # Worker and scheduler wait for a Redis that went away, retrying with a doubling
        # delay of at most this many seconds.
        "MERCATO_REDIS_WAIT_MAX": parse_seconds(
            "MERCATO_REDIS_WAIT_MAX", env.get("MERCATO_REDIS_WAIT_MAX"), 30.0
        ),
        # E-mail to customers (webapp/mail): the SMTP server (smtp:// or smtps://, user:password@,
        # ?starttls=1) and the From address. Unset: nothing is sent, each e-mail waits with an
        # error saying so. `make run` points it at its mail catcher.
        "MERCATO_SMTP_URL": env.get("MERCATO_SMTP_URL", "").strip(),
        "MERCATO_MAIL_FROM": env.get("MERCATO_MAIL_FROM", "").strip()
        or "Mercato <noreply@localhost>",
        # The port web listens on (Heroku sets it); the demo seed prints its login URL.
        "PORT": parse_int("PORT", env.get("PORT"), 5000),
    }
