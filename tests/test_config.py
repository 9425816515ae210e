"""webapp.config.load: secrets policy per environment, URL and size parsing, honest docs."""

from __future__ import annotations

import multiprocessing
import re
import stat
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from webapp import config
from webapp.config import ConfigError, load

ROOT = Path(__file__).resolve().parent.parent
GOOD_SECRET = "s" * 32
GOOD_KEY = Fernet.generate_key().decode()


@pytest.fixture
def secrets_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "local-secrets.env"
    monkeypatch.setattr(config, "LOCAL_SECRETS_FILE", path)
    return path


def stored_names(path: Path) -> set[str]:
    return {
        line.partition("=")[0]
        for line in path.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }


def prod(**extra: str) -> dict[str, str]:
    return {"SECRET_KEY": GOOD_SECRET, "MERCATO_ENCRYPTION_KEYS": GOOD_KEY, **extra}


# --- production -------------------------------------------------------------------------


def test_production_is_the_default_and_starts_with_both_secrets(secrets_file):
    cfg = load(prod())
    assert cfg["MERCATO_ENV"] == "production" and cfg["TESTING"] is False
    assert cfg["SECRET_KEY"] == GOOD_SECRET
    assert cfg["MERCATO_ENCRYPTION_KEYS"] == [GOOD_KEY]
    assert cfg["SESSION_COOKIE_SECURE"] is True
    assert not secrets_file.exists()


@pytest.mark.parametrize("missing", ["SECRET_KEY", "MERCATO_ENCRYPTION_KEYS"])
def test_production_refuses_to_start_without_a_secret(secrets_file, missing):
    env = prod()
    del env[missing]
    with pytest.raises(ConfigError, match=missing):
        load(env)
    env[missing] = ""
    with pytest.raises(ConfigError, match=missing):
        load(env)
    assert not secrets_file.exists(), "production must never generate local secrets"


def test_production_refuses_without_any_secret_even_if_explicit(secrets_file):
    with pytest.raises(ConfigError, match="SECRET_KEY and MERCATO_ENCRYPTION_KEYS"):
        load({"MERCATO_ENV": "production"})
    with pytest.raises(ConfigError):
        load({"MERCATO_ENV": "  "})  # blank means the default, production
    assert not secrets_file.exists()


def test_production_refuses_a_short_secret_key(secrets_file):
    with pytest.raises(ConfigError, match="32 characters"):
        load(prod(SECRET_KEY="s" * 31))
    # Development accepts it (the length rule is a production rule).
    assert load(prod(SECRET_KEY="short", MERCATO_ENV="development"))["SECRET_KEY"] == "short"


def test_production_never_reads_the_local_secrets_file(secrets_file):
    secrets_file.write_text(f"SECRET_KEY={'x' * 48}\nMERCATO_ENCRYPTION_KEYS={GOOD_KEY}\n")
    before = secrets_file.read_bytes()
    with pytest.raises(ConfigError):
        load({})
    with pytest.raises(ConfigError, match="MERCATO_ENCRYPTION_KEYS"):
        load({"SECRET_KEY": GOOD_SECRET})
    assert secrets_file.read_bytes() == before


# --- development and test ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["development", "test"])
def test_missing_secrets_are_generated_once_into_the_local_file(secrets_file, mode):
    assert not secrets_file.exists()
    first = load({"MERCATO_ENV": mode})
    assert secrets_file.exists()
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert len(first["SECRET_KEY"]) >= 32
    [key] = first["MERCATO_ENCRYPTION_KEYS"]
    Fernet(key.encode())  # a usable Fernet key
    body = secrets_file.read_text()
    assert f"SECRET_KEY={first['SECRET_KEY']}\n" in body
    assert f"MERCATO_ENCRYPTION_KEYS={key}\n" in body

    second = load({"MERCATO_ENV": mode})
    assert second["SECRET_KEY"] == first["SECRET_KEY"]
    assert second["MERCATO_ENCRYPTION_KEYS"] == first["MERCATO_ENCRYPTION_KEYS"]
    assert secrets_file.read_text() == body
    assert first["TESTING"] is (mode == "test")
    assert first["SESSION_COOKIE_SECURE"] is False


def test_given_secrets_win_and_only_the_missing_one_is_generated(secrets_file):
    cfg = load({"MERCATO_ENV": "development", "SECRET_KEY": "mine-" + "k" * 30})
    assert cfg["SECRET_KEY"] == "mine-" + "k" * 30
    assert stored_names(secrets_file) == {"MERCATO_ENCRYPTION_KEYS"}
    # Neither given now: the stored key is kept, a SECRET_KEY is added next to it.
    again = load({"MERCATO_ENV": "development"})
    assert again["MERCATO_ENCRYPTION_KEYS"] == cfg["MERCATO_ENCRYPTION_KEYS"]
    assert again["SECRET_KEY"] != cfg["SECRET_KEY"]
    assert load({"MERCATO_ENV": "development"})["SECRET_KEY"] == again["SECRET_KEY"]


def _load_after(barrier, results) -> None:
    barrier.wait()
    cfg = load({"MERCATO_ENV": "test"})
    results.put((cfg["SECRET_KEY"], tuple(cfg["MERCATO_ENCRYPTION_KEYS"])))


def test_processes_starting_together_get_the_same_secrets(secrets_file, monkeypatch):
    """make run's processes, or the workers of a parallel test run, on a fresh clone: each
    generates the missing secrets at the same moment, and all must end with the same ones
    (else one encrypts what another cannot decrypt). Making a secret is slowed down here so
    that the processes do meet."""
    make_token = config.secrets.token_urlsafe

    def slow_token(nbytes=None):
        time.sleep(0.05)
        return make_token(nbytes)

    monkeypatch.setattr(config.secrets, "token_urlsafe", slow_token)
    context = multiprocessing.get_context("fork")  # the patched path and token go along
    for _ in range(3):
        secrets_file.unlink(missing_ok=True)
        barrier, results = context.Barrier(8), context.Queue()
        processes = [context.Process(target=_load_after, args=(barrier, results)) for _ in range(8)]
        for process in processes:
            process.start()
        seen = {results.get(timeout=60) for _ in processes}
        for process in processes:
            process.join(timeout=60)
            assert process.exitcode == 0
        assert len(seen) == 1, f"{len(seen)} different secrets from 8 processes"
        [(secret_key, keys)] = seen
        assert f"SECRET_KEY={secret_key}\n" in secrets_file.read_text()
        assert f"MERCATO_ENCRYPTION_KEYS={keys[0]}\n" in secrets_file.read_text()


def test_bad_environment_name_is_refused(secrets_file):
    for bad in ("prod", "staging", "Production"):
        with pytest.raises(ConfigError, match="MERCATO_ENV"):
            load(prod(MERCATO_ENV=bad))


# --- values --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
        (
            "postgresql://u:p@h:5433/db?sslmode=require",
            "postgresql+psycopg://u:p@h:5433/db?sslmode=require",
        ),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.sqlite3", "sqlite:////tmp/x.sqlite3"),
    ],
)
def test_database_url_is_normalised(given, expected):
    assert load(prod(DATABASE_URL=given))["SQLALCHEMY_DATABASE_URI"] == expected


def test_no_database_url_is_a_sqlite_file_under_instance():
    for env in (prod(), prod(DATABASE_URL="")):
        uri = load(env)["SQLALCHEMY_DATABASE_URI"]
        assert uri == f"sqlite:///{ROOT / 'instance' / 'mercato.sqlite3'}"


def test_outbound_allow_is_a_list():
    assert load(prod())["MERCATO_OUTBOUND_ALLOW"] == []
    allow = load(prod(MERCATO_OUTBOUND_ALLOW=" feeds.lan:443, ,[::1]:8080,127.0.0.1:9000 "))
    assert allow["MERCATO_OUTBOUND_ALLOW"] == ["feeds.lan:443", "[::1]:8080", "127.0.0.1:9000"]


@pytest.mark.parametrize("bad", ["feeds.lan", "http://feeds.lan:443/", "::1:8080", "h:99999"])
def test_malformed_outbound_allow_entry_stops_the_start(bad):
    with pytest.raises(ConfigError, match="MERCATO_OUTBOUND_ALLOW"):
        load(prod(MERCATO_OUTBOUND_ALLOW=f"ok.lan:443,{bad}"))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("200MB", 200 * 1024**2),
        ("2 GB", 2 * 1024**3),
        ("2gb", 2 * 1024**3),
        ("64KB", 64 * 1024),
        ("512B", 512),
        ("1048576", 1048576),
        ("", 200 * 1024**2),
    ],
)
def test_sizes_are_parsed(given, expected):
    cfg = load(prod(MERCATO_UPLOAD_MAX_BYTES=given, MERCATO_FETCH_MAX_BYTES=given))
    assert cfg["MERCATO_UPLOAD_MAX_BYTES"] == expected
    assert cfg["MERCATO_FETCH_MAX_BYTES"] == (expected if given else 2 * 1024**3)


@pytest.mark.parametrize("bad", ["lots", "1.5GB", "MB", "-5MB", "10 TB"])
def test_bad_sizes_are_refused(bad):
    with pytest.raises(ConfigError, match="MERCATO_FETCH_MAX_BYTES"):
        load(prod(MERCATO_FETCH_MAX_BYTES=bad))


def test_defaults_and_whole_numbers():
    cfg = load(prod())
    assert cfg["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert cfg["MERCATO_FETCH_TIMEOUT"] == 30
    assert cfg["MERCATO_IMPORT_JOB_TIMEOUT"] == 4 * 3600
    assert cfg["MERCATO_WORK_DIR"] == str(ROOT / "instance" / "work")
    assert cfg["LOG_LEVEL"] == "INFO"
    cfg = load(
        prod(MERCATO_FETCH_TIMEOUT="5", MERCATO_LOG_LEVEL="debug", MERCATO_QUEUE_PREFIX="x-")
    )
    assert (cfg["MERCATO_FETCH_TIMEOUT"], cfg["LOG_LEVEL"]) == (5, "DEBUG")
    assert cfg["MERCATO_QUEUE_PREFIX"] == "x-"
    with pytest.raises(ConfigError, match="MERCATO_FETCH_TIMEOUT"):
        load(prod(MERCATO_FETCH_TIMEOUT="thirty"))
    assert load(prod(MERCATO_SECURE_COOKIES="false"))["SESSION_COOKIE_SECURE"] is False


def test_connector_backoff_base_is_seconds():
    assert load(prod())["MERCATO_CONNECTOR_BACKOFF_BASE"] == 1.0
    assert (
        load(prod(MERCATO_CONNECTOR_BACKOFF_BASE="0.01"))["MERCATO_CONNECTOR_BACKOFF_BASE"] == 0.01
    )
    for bad in ("fast", "-1", "nan", "inf"):
        with pytest.raises(ConfigError, match="MERCATO_CONNECTOR_BACKOFF_BASE"):
            load(prod(MERCATO_CONNECTOR_BACKOFF_BASE=bad))


# --- the docs list every variable ----------------------------------------------------------


def config_variables() -> set[str]:
    source = Path(config.__file__).read_text()
    names = set(re.findall(r"""env\.get\(\s*["']([A-Z][A-Z0-9_]*)["']""", source))
    names |= set(re.findall(r"""env\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]""", source))
    return names


def test_config_reads_the_variables_we_expect():
    # Guards the regex: if it stopped matching, the docs test below would pass vacuously.
    names = config_variables()
    assert {"SECRET_KEY", "MERCATO_ENCRYPTION_KEYS", "DATABASE_URL", "MERCATO_ENV"} <= names
    assert len(names) >= 14


@pytest.mark.parametrize("doc", [".env.example", "README.md"])
def test_every_variable_is_documented(doc):
    text = (ROOT / doc).read_text()
    if doc == ".env.example":
        documented = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))
    else:
        documented = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", text, re.MULTILINE))
    missing = sorted(config_variables() - documented)
    assert not missing, f"{doc} does not document {missing}"
