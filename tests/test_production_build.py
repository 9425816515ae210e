"""The production build, as a Heroku-style platform runs it, from a fresh copy of the code.

A fresh clone (the repository's files, none of a developer's ignored ones: no .venv, no
fetched assets), a fresh venv with ``pip install -r requirements.txt``, ``bin/post_compile``,
then the Procfile's ``release`` and ``web``: the pages' htmx and Pico CSS load. Without the
assets, ``web`` exits non-zero with one line.

(``--no-compile`` only skips writing .pyc files, to keep the test shorter.)

No test reaches the internet: ``bin/post_compile`` downloads from a local npm registry this
test serves. Its tarballs hold the very htmx and Pico files the checkout's bootstrap fetched
and verified, and the copy's package-lock.json pins their sha512 (the real lock file's
hashes are checked by every ``scripts/bootstrap.sh``).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "webapp" / "static" / "vendor"
# What each package's tarball holds, as scripts/fetch_assets.py's ASSETS reads it.
TARBALL_FILES = {
    "htmx.org": {"package/dist/htmx.min.js": "htmx/htmx.min.js"},
    "@picocss/pico": {"package/css/pico.min.css": "pico/pico.min.css"},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def repository_files() -> list[str]:
    """The files a clone of the working tree has: tracked and new ones, not ignored ones."""
    out = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in out.split("\0") if name and (ROOT / name).is_file()]


def fresh_clone(dest: Path) -> Path:
    for name in repository_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    assert not (dest / "webapp" / "static" / "vendor").exists()
    return dest


def local_registry(folder: Path, clone: Path) -> tuple[str, ThreadingHTTPServer]:
    """An npm registry on 127.0.0.1 serving one tarball per pinned package, and the clone's
    lock file pinning those tarballs' sha512."""
    lock_path = clone / "package-lock.json"
    lock = json.loads(lock_path.read_text())
    for name, files in TARBALL_FILES.items():
        entry = lock["packages"][f"node_modules/{name}"]
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for member, vendored in files.items():
                data = (VENDOR / vendored).read_bytes()
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        body = buffer.getvalue()
        basename = name.rsplit("/", 1)[-1]
        path = folder / name / "-" / f"{basename}-{entry['version']}.tgz"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        entry["integrity"] = "sha512-" + base64.b64encode(hashlib.sha512(body).digest()).decode()
    lock_path.write_text(json.dumps(lock, indent=2))
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """A fresh clone built as the platform builds it: a fresh venv, pip install -r
    requirements.txt, bin/post_compile (from the local registry)."""
    base = tmp_path_factory.mktemp("build")
    clone = fresh_clone(base / "app")
    registry, server = local_registry(base / "registry", clone)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "--no-compile", "-r", "requirements.txt"],
        cwd=clone,
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    env = {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(base),
        "NPM_CONFIG_REGISTRY": registry,
    }
    compiled = subprocess.run(
        ["bin/post_compile"], cwd=clone, env=env, capture_output=True, text=True, timeout=300
    )
    server.shutdown()
    server.server_close()
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    for name in ("htmx/htmx.min.js", "pico/pico.min.css"):
        assert (clone / "webapp/static/vendor" / name).read_bytes() == (VENDOR / name).read_bytes()
    return clone, venv


def production_env(build, tmp_path, **extra) -> dict[str, str]:
    clone, venv = build
    return {
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(tmp_path),
        # MERCATO_ENV unset: production, the default.
        "SECRET_KEY": "p" * 48,
        "MERCATO_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:1/0",  # no page below needs it
        "PORT": str(free_port()),
        "WEB_CONCURRENCY": "1",
        **extra,
    }


def procfile(build, process: str, env: dict[str, str], **kwargs) -> subprocess.Popen:
    clone, _ = build
    return subprocess.Popen(
        ["bin/procfile", process],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        **kwargs,
    )


def stop(process: subprocess.Popen) -> tuple[str, str]:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        return process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.communicate()


def test_procfile_web_serves_pages_with_their_htmx_and_pico(build, tmp_path):
    env = production_env(build, tmp_path)
    release = procfile(build, "release", env)
    out, err = release.communicate(timeout=300)
    assert release.returncode == 0, out + err

    web = procfile(build, "web", env)
    base = f"http://127.0.0.1:{env['PORT']}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert web.poll() is None, stop(web)
            try:
                if requests.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, stop(web)
            time.sleep(0.2)
        page = requests.get(f"{base}/login", timeout=10)
        assert page.status_code == 200
        assert "<h1>Log in</h1>" in page.text
        css = re.search(r'<link rel="stylesheet" href="([^"]*pico\.min\.css)"', page.text)
        js = re.search(r'<script src="([^"]*htmx\.min\.js)"', page.text)
        assert css and js, page.text
        for path, content_type, vendored in (
            (css.group(1), "text/css", "pico/pico.min.css"),
            (js.group(1), "text/javascript", "htmx/htmx.min.js"),
        ):
            asset = requests.get(base + path, timeout=10)
            assert asset.status_code == 200, path
            assert asset.headers["Content-Type"].split(";")[0] == content_type, path
            assert asset.content == (VENDOR / vendored).read_bytes()
    finally:
        stop(web)


def test_web_without_the_assets_refuses_to_start_with_one_line(build, tmp_path):
    clone, _ = build
    vendor = clone / "webapp" / "static" / "vendor"
    kept = tmp_path / "vendor"
    shutil.move(vendor, kept)
    try:
        web = procfile(build, "web", production_env(build, tmp_path))
        out, err = web.communicate(timeout=120)
    finally:
        shutil.move(kept, vendor)
    assert web.returncode != 0
    assert err.splitlines() == [
        "mercato: the front-end assets are missing (webapp/static/vendor/htmx/htmx.min.js, "
        "webapp/static/vendor/pico/pico.min.css): the build must run bin/post_compile "
        "(python scripts/fetch_assets.py). Refusing to start web."
    ], err
    assert out == ""


def test_web_without_its_secrets_refuses_to_start_with_one_line(build, tmp_path):
    env = production_env(build, tmp_path)
    del env["SECRET_KEY"], env["MERCATO_ENCRYPTION_KEYS"]
    web = procfile(build, "web", env)
    out, err = web.communicate(timeout=120)
    assert web.returncode != 0
    assert len(err.splitlines()) == 1, err
    assert err.startswith(
        "mercato: SECRET_KEY and MERCATO_ENCRYPTION_KEYS must be set in production"
    )
    assert "Traceback" not in err


def test_web_checks_exactly_what_the_build_fetches_and_the_pages_link():
    """webapp.startup.VENDOR_FILES (what web refuses to start without), fetch_assets's ASSETS
    (what the build writes) and base.html's links name the same files."""
    import importlib.util

    from webapp.startup import VENDOR_FILES

    spec = importlib.util.spec_from_file_location("fetch_assets", ROOT / "scripts/fetch_assets.py")
    fetch_assets = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch_assets)
    fetched = {dest for files in fetch_assets.ASSETS.values() for dest in files.values()}
    assert set(VENDOR_FILES) == fetched
    assert fetch_assets.ASSETS == TARBALL_FILES
    base = (ROOT / "webapp/templates/base.html").read_text()
    linked = set(re.findall(r"filename='vendor/([^']+)'", base))
    assert linked == fetched
