#!/usr/bin/env bash
# Create .venv if it is missing and install requirements.txt into it, but only
# when requirements.txt (or the interpreter) changed since the last install.
#
# Environment:
#   PYTHON   interpreter to build the venv with (default: python3.11, else python3)
#   VENV     venv directory (default: .venv at the repository root)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
venv=${VENV:-.venv}
requirements=requirements.txt
stamp=$venv/.requirements.stamp

say() { printf 'bootstrap: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# True when the given interpreter runs and is Python >= 3.11.
python_ok() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' >/dev/null 2>&1
}

pick_python() {
    if [[ -n ${PYTHON:-} ]]; then
        python_ok "$PYTHON" || die "PYTHON=$PYTHON is not a working Python 3.11 or newer."
        printf '%s\n' "$PYTHON"
        return
    fi
    local candidate
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
            command -v "$candidate"
            return
        fi
    done
    die "Python 3.11 or newer is required (tried python3.11, python3). On Debian: apt-get install python3 python3-venv"
}

if [[ -e $venv ]] && ! python_ok "$venv/bin/python"; then
    say "$venv is broken or older than Python 3.11: recreating it."
    rm -rf "$venv"
fi

if [[ ! -e $venv ]]; then
    python=$(pick_python)
    say "creating $venv with $python"
    if ! "$python" -m venv "$venv" || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
        rm -rf "$venv"
        die "could not create a virtualenv with pip. On Debian/Ubuntu: apt-get install python3-venv (or python3.11-venv)."
    fi
fi

# Serialise concurrent bootstraps (say `make run` and `make test` started together).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$venv/.bootstrap.lock"
    flock 9
fi

# The stamp records what was installed: the requirements file and the interpreter.
want=$("$venv/bin/python" - "$requirements" <<'PY'
import hashlib, sys
with open(sys.argv[1], "rb") as fh:
    digest = hashlib.sha256(fh.read()).hexdigest()
print(f"{digest} {sys.version.split()[0]}")
PY
)
have=$(cat "$stamp" 2>/dev/null || true)

if [[ $want != "$have" ]]; then
    say "installing $requirements into $venv (the first time takes a minute)"
    PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$venv/bin/python" -m pip install --quiet --requirement "$requirements" \
        || die "pip install -r $requirements failed (see above)."
    printf '%s\n' "$want" >"$stamp"
fi

# Front-end assets (htmx, Pico) pinned by package-lock.json, verified against its
# integrity hashes, into the git-ignored webapp/static/vendor/. Silent when up to date.
"$venv/bin/python" scripts/fetch_assets.py \
    || die "could not fetch the front-end assets (see above)."
