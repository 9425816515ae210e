#!/usr/bin/env python3
"""Fetch the front-end assets Mercato serves, pinned by package-lock.json.

    python scripts/fetch_assets.py [--force]

For every package in package-lock.json this downloads the npm tarball
``<registry><name>/-/<basename>-<version>.tgz``, checks it against the lock file's
``integrity`` (sha512) before reading a byte of it, and copies only the files Mercato
serves (``ASSETS`` below) into ``webapp/static/vendor/`` (git-ignored).

The registry is ``NPM_CONFIG_REGISTRY`` if set, else what ``npm config get registry``
prints when npm is on PATH, else npm's public default. Only the standard library is
used: a fresh machine needs Python 3.11 and nothing else (no node).

A stamp (``webapp/static/vendor/.assets-stamp.json``) records the versions, the
integrity and the digests of the files written, so a run with nothing to do is silent
and touches no network. Exit status: 0 on success, 1 on any failure (with a message).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = ROOT / "package-lock.json"
VENDOR = ROOT / "webapp" / "static" / "vendor"
STAMP = VENDOR / ".assets-stamp.json"
DEFAULT_REGISTRY = "https://registry.npmjs.org/"
MAX_TARBALL_BYTES = 50 * 1024 * 1024
TIMEOUT_SECONDS = 60

# package name -> {path inside the tarball: path under webapp/static/vendor/}.
# webapp/templates/base.html links exactly these files.
ASSETS: dict[str, dict[str, str]] = {
    "htmx.org": {"package/dist/htmx.min.js": "htmx/htmx.min.js"},
    "@picocss/pico": {"package/css/pico.min.css": "pico/pico.min.css"},
}


class AssetError(Exception):
    """Something is wrong: the message says what, and the script exits 1."""


def say(message: str) -> None:
    print(f"fetch_assets: {message}", file=sys.stderr)


def read_lock(path: Path = LOCK_FILE) -> dict[str, dict[str, str]]:
    """{name: {"version", "integrity"}} for the top-level packages of a v2/v3 lock file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise AssetError(f"{path} is missing (run: npm install --package-lock-only)") from exc
    except json.JSONDecodeError as exc:
        raise AssetError(f"{path} is not valid JSON: {exc}") from exc
    packages = data.get("packages")
    if not isinstance(packages, dict):
        raise AssetError(
            f"{path} has no 'packages' map (lockfileVersion 2 or 3 is needed, "
            f"found {data.get('lockfileVersion')!r})"
        )
    found: dict[str, dict[str, str]] = {}
    for key, entry in packages.items():
        if not key.startswith("node_modules/") or "/node_modules/" in key:
            continue  # the root project, or a nested copy
        name = key[len("node_modules/") :]
        version, integrity = entry.get("version"), entry.get("integrity")
        if not version or not integrity:
            raise AssetError(f"{path}: {name} has no version or integrity")
        found[name] = {"version": version, "integrity": integrity}
    unknown = sorted(set(found) - set(ASSETS))
    if unknown:
        raise AssetError(
            f"{path} lists {', '.join(unknown)}, but scripts/fetch_assets.py does not know "
            "which of its files Mercato serves: add it to ASSETS"
        )
    missing = sorted(set(ASSETS) - set(found))
    if missing:
        raise AssetError(f"{path} does not pin {', '.join(missing)} (see package.json)")
    return found


def registry_url() -> str:
    registry = os.environ.get("NPM_CONFIG_REGISTRY") or os.environ.get("npm_config_registry")
    if not registry and shutil.which("npm"):
        try:
            result = subprocess.run(
                ["npm", "config", "get", "registry"],  # noqa: S607 (npm from PATH on purpose)
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            result = None
        if result is not None and result.returncode == 0:
            registry = result.stdout.strip().splitlines()[-1].strip() if result.stdout else ""
    registry = registry or DEFAULT_REGISTRY
    if urllib.parse.urlsplit(registry).scheme not in ("http", "https"):
        raise AssetError(f"the npm registry must be an http(s) URL, not {registry!r}")
    return registry if registry.endswith("/") else registry + "/"


def tarball_url(registry: str, name: str, version: str) -> str:
    basename = name.rsplit("/", 1)[-1]  # @picocss/pico -> pico
    return f"{registry}{name}/-/{basename}-{version}.tgz"


def expected_sha512(name: str, integrity: str) -> bytes:
    """The sha512 digest from an SRI string ("sha512-<base64>", maybe among others)."""
    for token in integrity.split():
        algorithm, _, value = token.partition("-")
        if algorithm == "sha512":
            try:
                digest = base64.b64decode(value.split("?", 1)[0], validate=True)
            except ValueError as exc:
                raise AssetError(f"{name}: malformed integrity {token!r}") from exc
            if len(digest) != hashlib.sha512().digest_size:
                raise AssetError(f"{name}: malformed integrity {token!r}")
            return digest
    raise AssetError(f"{name}: the lock file's integrity has no sha512 hash ({integrity!r})")


def download(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "mercato-fetch-assets"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            body = response.read(MAX_TARBALL_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise AssetError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AssetError(
            f"cannot download {url}: {reason} "
            "(set NPM_CONFIG_REGISTRY to reach another npm registry)"
        ) from exc
    if len(body) > MAX_TARBALL_BYTES:
        raise AssetError(f"{url} is larger than {MAX_TARBALL_BYTES} bytes: refused")
    return body


def verify(name: str, version: str, integrity: str, body: bytes) -> None:
    want = expected_sha512(name, integrity)
    got = hashlib.sha512(body).digest()
    if not hmac.compare_digest(want, got):
        raise AssetError(
            f"{name} {version}: integrity mismatch, refusing the tarball "
            f"(lock file sha512-{base64.b64encode(want).decode()}, "
            f"downloaded sha512-{base64.b64encode(got).decode()})"
        )


def extract(name: str, body: bytes, files: dict[str, str], scratch: Path) -> dict[str, bytes]:
    """The wanted regular files of a verified tarball, {tarball path: content}.

    Only members named exactly in ``files`` are touched. They are extracted with
    tarfile's 'data' filter (no absolute paths, no '..', no links or devices) into a
    scratch folder; an interpreter without the filter reads them as plain bytes.
    """
    contents: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            for member_name in files:
                try:
                    member = tar.getmember(member_name)
                except KeyError as exc:
                    raise AssetError(f"{name}: the tarball has no {member_name}") from exc
                if not member.isfile():
                    raise AssetError(f"{name}: {member_name} is not a regular file: refused")
                if hasattr(tarfile, "data_filter"):
                    tar.extract(member, path=scratch, filter="data")
                    target = (scratch / member_name).resolve()
                    if not target.is_relative_to(scratch.resolve()):
                        raise AssetError(f"{name}: {member_name} escapes the folder: refused")
                    contents[member_name] = target.read_bytes()
                else:  # Python 3.11 before 3.11.4: no filters; read the bytes, write them ourselves
                    handle = tar.extractfile(member)
                    if handle is None:
                        raise AssetError(f"{name}: cannot read {member_name}")
                    contents[member_name] = handle.read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise AssetError(f"{name}: unreadable tarball: {exc}") from exc
    return contents


def write_atomic(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    os.replace(tmp, path)


def sha256_file(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def read_stamp() -> dict:
    try:
        stamp = json.loads(STAMP.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return stamp if isinstance(stamp, dict) else {}


def up_to_date(name: str, pinned: dict[str, str], stamp: dict) -> bool:
    """The stamp matches the lock and every served file is there, unchanged."""
    entry = stamp.get(name)
    if not isinstance(entry, dict):
        return False
    if entry.get("version") != pinned["version"] or entry.get("integrity") != pinned["integrity"]:
        return False
    recorded = entry.get("files") or {}
    for dest in ASSETS[name].values():
        if recorded.get(dest) is None or sha256_file(VENDOR / dest) != recorded.get(dest):
            return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="download even when up to date")
    args = parser.parse_args(argv)
    try:
        pinned = read_lock()
        stamp = {} if args.force else read_stamp()
        stale = [name for name in pinned if not up_to_date(name, pinned[name], stamp)]
        if not stale:
            return 0
        registry = registry_url()
        new_stamp = {name: stamp[name] for name in pinned if name not in stale}
        with tempfile.TemporaryDirectory(prefix="mercato-assets-") as tmp:
            for index, name in enumerate(stale):
                version, integrity = pinned[name]["version"], pinned[name]["integrity"]
                body = download(tarball_url(registry, name, version))
                verify(name, version, integrity, body)
                scratch = Path(tmp) / str(index)
                scratch.mkdir()
                contents = extract(name, body, ASSETS[name], scratch)
                written = {}
                for member_name, dest in ASSETS[name].items():
                    write_atomic(VENDOR / dest, contents[member_name])
                    written[dest] = hashlib.sha256(contents[member_name]).hexdigest()
                new_stamp[name] = {"version": version, "integrity": integrity, "files": written}
                say(
                    f"{name} {version}: sha512 integrity verified, wrote "
                    + ", ".join(f"webapp/static/vendor/{dest}" for dest in written)
                )
        write_atomic(STAMP, (json.dumps(new_stamp, indent=2, sort_keys=True) + "\n").encode())
    except AssetError as exc:
        say(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
