#!/usr/bin/env bash
# Make sure Debian's Chromium is installed at /usr/bin/chromium for the browser tests
# (tests/browser drive it with Playwright; Playwright's own browser downloads are not used).
#
# Installed with apt-get when this runs as root and apt-get exists (CI, a fresh dev
# machine); otherwise it says how to install it and exits non-zero.
#
# Environment:
#   CHROMIUM_BIN   path to check (default /usr/bin/chromium)
set -euo pipefail

chromium=${CHROMIUM_BIN:-/usr/bin/chromium}

say() { printf 'ensure_chromium: %s\n' "$*" >&2; }

if [[ -x $chromium ]]; then
    exit 0
fi

if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "$chromium is missing: installing Debian's chromium package (takes a minute)"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }; then
        say "apt-get install chromium failed (see above)."
        exit 1
    fi
    if [[ ! -x $chromium ]]; then
        say "apt-get installed chromium but $chromium is still missing."
        exit 1
    fi
    say "installed $("$chromium" --version 2>/dev/null || echo chromium)"
    exit 0
fi

say "$chromium is missing; the browser tests (tests/browser) need it."
say "Install it as root: apt-get update && apt-get install -y chromium"
say "(on Debian/Ubuntu), or set CHROMIUM_BIN to a Chromium binary."
exit 1
