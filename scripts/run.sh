#!/usr/bin/env bash
# `make run`: everything a newcomer needs to see Mercato running locally.
#
#   1. scripts/bootstrap.sh (venv + requirements);
#   2. .env is loaded if present (variables already in the environment win);
#   3. REDIS_URL if set, else a private redis-server on instance/redis.sock;
#   4. MERCATO_ENV=development, flask db upgrade, flask demo seed (with the demo store's
#      Lengow and Letzshop accounts pointed at the marketplace sandbox);
#   5. honcho runs web (gunicorn on 127.0.0.1:$PORT, default 5000), worker, scheduler,
#      the marketplace sandbox (127.0.0.1:$SANDBOX_PORT, default 5050) and the mail catcher
#      (SMTP 127.0.0.1:$MAIL_SMTP_PORT, default 1025; its inbox on http://127.0.0.1:$MAIL_WEB_PORT/,
#      default 8025; MERCATO_SMTP_URL points at it) from Procfile.dev;
#      once web and sandbox answer, the digital demo is set up (flask demo digital: a
#      CodesWholesale account, a key pool, a paid digital order on the sandbox) and one order
#      import of the demo accounts runs (the worker fulfils the digital order and e-mails its
#      keys to the mail catcher).
#      Ctrl-C stops all of them and the private Redis.
#   6. instance/make-run.env tells scripts/flask (the CLI from another shell) which Redis,
#      database and sandbox port this instance uses.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
venv=$root/.venv

say() { printf '\n==> %s\n' "$*" >&2; }

scripts/bootstrap.sh

# .env (Heroku `heroku local` style KEY=value lines); the environment wins.
# shellcheck source=scripts/dotenv.sh
source scripts/dotenv.sh
if mercato_load_dotenv .env; then
    say "loaded .env"
fi

export MERCATO_ENV=development
export FLASK_SKIP_DOTENV=1 # .env was loaded above; silence Flask's python-dotenv tip
export MERCATO_DEV_PORT=${PORT:-5000}
export MERCATO_SANDBOX_PORT=${SANDBOX_PORT:-5050}
export MERCATO_MAILCATCHER_SMTP_PORT=${MAIL_SMTP_PORT:-1025}
export MERCATO_MAILCATCHER_WEB_PORT=${MAIL_WEB_PORT:-8025}
# Every e-mail goes to the local mail catcher, never to a real customer (.env cannot change it).
export MERCATO_SMTP_URL="smtp://127.0.0.1:$MERCATO_MAILCATCHER_SMTP_PORT"
export MERCATO_MAIL_FROM="${MERCATO_MAIL_FROM:-Mercato demo <shop@mercato.localhost>}"
mail_url="http://127.0.0.1:$MERCATO_MAILCATCHER_WEB_PORT/"
url="http://127.0.0.1:$MERCATO_DEV_PORT"
sandbox_url="http://127.0.0.1:$MERCATO_SANDBOX_PORT"
# The demo accounts' base URL is the local sandbox: let the outbound guard through to it.
export MERCATO_OUTBOUND_ALLOW="${MERCATO_OUTBOUND_ALLOW:+$MERCATO_OUTBOUND_ALLOW,}127.0.0.1:$MERCATO_SANDBOX_PORT"

port_free() {
    "$venv/bin/python" - "$1" <<'PY'
import socket, sys

with socket.socket() as sock:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", int(sys.argv[1])))
    except OSError:
        sys.exit(1)
PY
}

# Refuse early (before touching Redis) when a port is taken, e.g. by another make run.
if ! port_free "$MERCATO_DEV_PORT"; then
    echo "make run: 127.0.0.1:$MERCATO_DEV_PORT is already in use (another make run?)." \
        "Stop it, or pick another port: PORT=5001 make run" >&2
    exit 1
fi
if ! port_free "$MERCATO_SANDBOX_PORT"; then
    echo "make run: the sandbox port 127.0.0.1:$MERCATO_SANDBOX_PORT is already in use." \
        "Pick another one: SANDBOX_PORT=5051 make run" >&2
    exit 1
fi

for port_var in MERCATO_MAILCATCHER_SMTP_PORT MERCATO_MAILCATCHER_WEB_PORT; do
    if ! port_free "${!port_var}"; then
        echo "make run: the mail catcher's port 127.0.0.1:${!port_var} is already in use." \
            "Pick others: MAIL_SMTP_PORT=1026 MAIL_WEB_PORT=8026 make run" >&2
        exit 1
    fi
done

waiter=
# What scripts/flask needs to reach this instance from another shell (see scripts/flask):
# written once the ports are known, removed when make run stops.
state=${MERCATO_RUN_STATE:-$root/instance/make-run.env}
cleanup() {
    if [[ -n $waiter ]]; then
        kill "$waiter" 2>/dev/null || true
    fi
    rm -f "$state"
    mercato_redis_stop
}

# shellcheck source=scripts/with-redis.sh
source scripts/with-redis.sh
trap cleanup EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
if [[ -n ${REDIS_URL:-} ]]; then
    say "using REDIS_URL from the environment"
else
    mercato_redis_start redis
fi

mkdir -p "$root/instance"
(
    umask 077 # DATABASE_URL may hold a password
    {
        echo "# Written by make run (pid $$) for scripts/flask; removed when it stops."
        echo "MERCATO_RUN_PID=$$"
        echo "MERCATO_DEV_PORT=$MERCATO_DEV_PORT"
        echo "MERCATO_SANDBOX_PORT=$MERCATO_SANDBOX_PORT"
        echo "MERCATO_SMTP_URL=$MERCATO_SMTP_URL"
        echo "MERCATO_MAIL_FROM=$MERCATO_MAIL_FROM"
        echo "REDIS_URL=$REDIS_URL"
        if [[ -n ${DATABASE_URL:-} ]]; then
            echo "DATABASE_URL=$DATABASE_URL"
        fi
    } >"$state"
)

say "flask db upgrade"
"$venv/bin/flask" --app wsgi db upgrade
say "flask demo seed"
"$venv/bin/flask" --app wsgi demo seed --sandbox-url "$sandbox_url" --url "$url"

# Once web and sandbox answer: announce the URL, then poll the demo accounts once so the
# orders page has orders (later polls: `flask orders import --account ID`).
(
    "$venv/bin/python" - "$url/healthz" "$sandbox_url/_sandbox/state" "${mail_url}api/messages" <<'PY' || exit 0
import sys, time, urllib.request

deadline = time.monotonic() + 120
pending = list(sys.argv[1:])
while pending and time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(pending[0], timeout=2):  # noqa: S310
            pending.pop(0)
    except OSError:
        time.sleep(0.5)
sys.exit(1 if pending else 0)
PY
    printf '\n==> Mercato is up: %s  (Ctrl-C stops everything)\n' "$url"
    printf '==> marketplace sandbox on %s; importing the demo accounts'"'"' orders\n' "$sandbox_url"
    # The digital demo: a CodesWholesale account on the sandbox, two game keys published, a
    # key pool, and a paid sandbox order for them (booked below, fulfilled and e-mailed by the worker).
    "$venv/bin/flask" --app wsgi demo digital --sandbox-url "$sandbox_url" 2>&1 | grep -E '^\{|^Error' || true
    "$venv/bin/flask" --app wsgi demo import-orders 2>&1 | grep -E '^\{' || true
    printf '==> orders imported: %s/store/demo/orders\n' "$url"
    # One e-mail through the real SMTP path, so the catcher's inbox shows what customers get.
    "$venv/bin/flask" --app wsgi mail send-test --store demo --to demo-customer@example.com \
        2>&1 | grep -E '^\{' || true
    printf '==> mail catcher: every e-mail Mercato sends lands in %s (open it in your browser)\n\n' "$mail_url"
) &
waiter=$!

say "starting web ($url), worker, scheduler, sandbox ($sandbox_url) and mail catcher ($mail_url); Ctrl-C stops everything"
"$venv/bin/honcho" --env /dev/null --procfile Procfile.dev start
