"""Starting a process: a setup that cannot work stops it with one clear line, no traceback.

``wsgi.py`` (gunicorn's workers and the flask CLI), ``gunicorn.conf.py`` (web, before any
worker forks) and ``jobs.worker`` / ``jobs.scheduler`` refuse through here, so an operator
reads the same sentence whichever process met the problem first.
"""

from __future__ import annotations

import sys
from typing import NoReturn

from flask import Flask

from webapp.config import ROOT, ConfigError

# The files webapp/templates/base.html links, fetched by scripts/fetch_assets.py (its ASSETS)
# into the git-ignored webapp/static/vendor/ at build time (bin/post_compile).
VENDOR = ROOT / "webapp" / "static" / "vendor"
VENDOR_FILES = ("htmx/htmx.min.js", "pico/pico.min.css")


def refuse(message: str) -> NoReturn:
    """Print ``mercato: <message>`` on stderr and exit 1."""
    print(f"mercato: {message}", file=sys.stderr, flush=True)
    raise SystemExit(1)


def create_app_or_exit(test_config: dict | None = None) -> Flask:
    from webapp import create_app

    try:
        return create_app(test_config)
    except ConfigError as exc:
        refuse(str(exc))


def missing_assets() -> list[str]:
    """The front-end files web serves that are missing or empty, as paths from the root."""
    missing = []
    for name in VENDOR_FILES:
        path = VENDOR / name
        if not path.is_file() or path.stat().st_size == 0:
            missing.append(str(path.relative_to(ROOT)))
    return missing


def check_web() -> None:
    """What web needs before it binds its port: a valid configuration and the assets."""
    from webapp.config import load

    try:
        load()
    except ConfigError as exc:
        refuse(str(exc))
    missing = missing_assets()
    if missing:
        refuse(
            f"the front-end assets are missing ({', '.join(missing)}): the build must run "
            "bin/post_compile (python scripts/fetch_assets.py). Refusing to start web."
        )
