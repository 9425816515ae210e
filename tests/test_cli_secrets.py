"""Secrets never need to be command-line arguments: a hidden prompt in a terminal, standard
input for scripts, and the argument kept for scripts with a warning in --help
(``accounts add``, ``users create``, ``imports run`` with a feed password)."""

from __future__ import annotations

import json
import os
import sys
import threading
from base64 import b64encode
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import redis_url
from tests.terminal import run_in_terminal
from webapp.crypto import decrypt
from webapp.extensions import db
from webapp.models import Account, Run, User

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).parent / "flask")


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def invoke(*args: str, input: str | None = None):
        result = runner.invoke(args=list(args), input=input)
        db.session.rollback()  # see what the command committed
        return result

    return invoke


@pytest.fixture
def terminal_env(app, database_uri) -> dict[str, str]:
    """The environment of a flask process on the test's own database and Redis."""
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "MERCATO_ENV": "test",
        "DATABASE_URL": database_uri,
        "REDIS_URL": redis_url(),
        "MERCATO_LOG_LEVEL": "WARNING",
        "MERCATO_PASSWORD_HASH_METHOD": "scrypt:256:8:1",
        "TERM": "dumb",
    }


def lengow(*extra: str) -> list[str]:
    return [
        *("accounts", "add", "--store", "acme", "--connector", "lengow"),
        *("--name", "Lengow Menzzo", "--setting", "account_id=5622", *extra),
    ]


def account_secrets(name: str = "Lengow Menzzo") -> dict:
    db.session.rollback()
    return db.session.scalar(select(Account).where(Account.name == name)).secrets()


# --- accounts add ----------------------------------------------------------------------------


def test_accounts_add_reads_key_value_lines_from_stdin(cli, store):
    result = cli(
        *lengow("--secrets-from-stdin"),
        input="# Lengow API keys\naccess_token=tok-STDIN\n\nsecret=sec=with=equals\n",
    )
    assert result.exit_code == 0, result.output
    assert account_secrets() == {"access_token": "tok-STDIN", "secret": "sec=with=equals"}
    assert "STDIN" not in result.output and "with=equals" not in result.output


def test_accounts_add_reads_a_json_object_from_stdin(cli, store):
    body = json.dumps({"access_token": "tok-JSON", "secret": "sec-JSON"})
    result = cli(*lengow("--secrets-from-stdin"), input=body)
    assert result.exit_code == 0, result.output
    assert account_secrets() == {"access_token": "tok-JSON", "secret": "sec-JSON"}


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("access_token=a\nsec-NAMELESS\n", "line 2 is not KEY=VALUE"),
        ("access_token=a\naccess_token=b\nsecret=c\n", "gives access_token twice"),
        ('{"access_token": ["sec-NAMELESS"]}', "maps names to strings"),
        ("{not json", "not a valid JSON object"),
        ("access_token=a\n", "missing required settings: Secret (secret)"),
        ("access_token=a\nsecret=b\napi_key=sec-NAMELESS\n", "unknown settings"),
    ],
)
def test_bad_stdin_is_refused_without_echoing_it_and_saves_nothing(cli, store, stdin, message):
    result = cli(*lengow("--secrets-from-stdin"), input=stdin)
    assert result.exit_code != 0
    assert message in result.output
    assert "sec-NAMELESS" not in result.output
    assert db.session.scalar(select(Account)) is None


def test_a_secret_given_twice_is_refused(cli, store):
    result = cli(
        *lengow("--secret", "access_token=a", "--secrets-from-stdin"),
        input="access_token=b\nsecret=c\n",
    )
    assert result.exit_code != 0
    assert "access_token is given both by --secret and on standard input" in result.output


def test_without_a_terminal_missing_secrets_say_how_to_give_them(cli, store):
    result = cli(*lengow())  # CliRunner's stdin is no terminal: nothing to prompt on
    assert result.exit_code != 0
    assert "missing required settings" in result.output
    assert "--secrets-from-stdin" in result.output


def test_a_malformed_secret_argument_is_not_echoed(cli, store):
    result = cli(*lengow("--secret", "sec-NAMELESS"))
    assert result.exit_code != 0
    assert "--secret takes KEY=VALUE" in result.output
    assert "sec-NAMELESS" not in result.output


def test_help_warns_about_secrets_on_the_command_line(cli):
    for command in (
        ["accounts", "add"],
        ["users", "create"],
        ["imports", "run"],
    ):
        text = " ".join(cli(*command, "--help").output.split())
        assert "shows in `ps` and in the shell's history" in text, command
        assert "-from-stdin" in text, command


def test_accounts_add_asks_for_each_declared_secret_hidden_in_a_terminal(app, store, terminal_env):
    status, shown = run_in_terminal(
        [FLASK, "--app", str(ROOT / "wsgi.py"), *lengow()],
        terminal_env,
        [("Access token (access_token):", "tok-TYPED"), ("Secret (secret):", "sec-TYPED")],
    )
    assert status == 0, shown
    assert "TYPED" not in shown, "the terminal must not echo a secret"
    assert account_secrets() == {"access_token": "tok-TYPED", "secret": "sec-TYPED"}


def test_the_prompt_asks_only_for_what_was_not_given(app, store, terminal_env):
    status, shown = run_in_terminal(
        [FLASK, "--app", str(ROOT / "wsgi.py"), *lengow("--secret", "access_token=tok-ARG")],
        terminal_env,
        [("Secret (secret):", "sec-TYPED")],
    )
    assert status == 0, shown
    assert "Access token" not in shown
    assert account_secrets() == {"access_token": "tok-ARG", "secret": "sec-TYPED"}


# --- users create ----------------------------------------------------------------------------


def test_users_create_reads_the_password_from_stdin(cli, store):
    result = cli(
        "users", "create", "clerk@acme.test", "--store", "acme", "--password-from-stdin",
        input="pw-from-STDIN\nignored second line\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "clerk@acme.test"))
    assert user.check_password("pw-from-STDIN")
    assert "STDIN" not in result.output


def test_users_create_without_a_password_or_a_terminal_says_how(cli, store):
    result = cli("users", "create", "clerk@acme.test", "--store", "acme")
    assert result.exit_code != 0
    assert "--password-from-stdin" in result.output
    both = cli(
        "users", "create", "c@acme.test", "--store", "acme", "--password", "long-enough",
        "--password-from-stdin", input="other-password\n",
    )  # fmt: skip
    assert both.exit_code != 0 and "one way" in both.output
    assert db.session.scalar(select(User)) is None


def test_users_create_asks_twice_hidden_in_a_terminal(app, store, terminal_env):
    status, shown = run_in_terminal(
        [FLASK, "--app", str(ROOT / "wsgi.py"), "users", "create", "clerk@acme.test"]
        + ["--store", "acme"],
        terminal_env,
        [
            ("Password (8 characters or more):", "pw-TYPED-1"),
            ("Repeat for confirmation:", "pw-TYPED-1"),
        ],
    )
    assert status == 0, shown
    assert "TYPED" not in shown
    db.session.rollback()
    user = db.session.scalar(select(User).where(User.email == "clerk@acme.test"))
    assert user.check_password("pw-TYPED-1")


# --- imports run -----------------------------------------------------------------------------


class _Feed(BaseHTTPRequestHandler):
    expected = "Basic " + b64encode(b"shop:p@ss word/TYPED").decode()

    def do_GET(self):  # noqa: N802 - http.server's name
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="feed"')
            self.end_headers()
            return
        body = b"id,title,price\nP1,Chair,10.00\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def private_feed(app):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Feed)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    address = f"127.0.0.1:{server.server_address[1]}"
    yield address
    server.shutdown()
    server.server_close()


def test_imports_run_reads_the_source_from_stdin(cli, store, private_feed, app):
    app.config["MERCATO_OUTBOUND_ALLOW"] = [private_feed]
    url = f"http://shop:p%40ss%20word%2FTYPED@{private_feed}/feed.csv"
    result = cli("imports", "run", "--store", "acme", "--source-from-stdin", input=url + "\n")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[-1])["imported"] == 1
    assert "TYPED" not in result.output
    neither = cli("imports", "run", "--store", "acme")
    assert neither.exit_code != 0 and "exactly one of --source or --source-from-stdin" in (
        neither.output
    )


def test_imports_run_asks_for_a_feed_password_left_out_of_the_url(
    app, store, terminal_env, private_feed
):
    env = {**terminal_env, "MERCATO_OUTBOUND_ALLOW": private_feed}
    status, shown = run_in_terminal(
        [FLASK, "--app", str(ROOT / "wsgi.py"), "imports", "run", "--store", "acme"]
        + ["--source", f"http://shop@{private_feed}/feed.csv"],
        env,
        [("Password for shop@127.0.0.1:", "p@ss word/TYPED")],
    )
    assert status == 0, shown
    assert "TYPED" not in shown
    assert json.loads(shown.strip().splitlines()[-1])["imported"] == 1
    db.session.rollback()
    run = db.session.scalar(select(Run))
    assert "TYPED" not in run.source_url  # masked where shown, the full URL kept encrypted
    assert "TYPED" in decrypt(run.source_secret)
