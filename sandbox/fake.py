"""What a fake marketplace is to the sandbox app, and how the app finds them.

Each module of :mod:`sandbox.fakes` defines ``FAKE``, a :class:`Fake`: the connector code it
stands in for, a blueprint with its API, the URL prefixes it owns (so a fault or an HTTP error
on them is answered in its own error shape), and what it adds to the index, the state and the
``flask sandbox serve`` banner. :func:`discover` imports every module of the package, so a new
marketplace's fake is one new module there and no edit anywhere else in ``sandbox/``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response

Sandbox = Any  # sandbox.app.Sandbox (not imported: the app imports this module)

__all__ = ["Fake", "discover"]


def _nothing(*_args: Any) -> dict:
    return {}


@dataclass(frozen=True)
class Fake:
    code: str
    blueprint: Blueprint
    prefixes: tuple[str, ...]
    # error(status, message, code, headers) -> a response in the marketplace's error shape.
    error: Callable[[int, str, str, Mapping[str, str] | None], Response]
    # What the fault switches answer: kind ("rate_limit", "server_error") -> (message, code).
    fault_messages: Mapping[str, tuple[str, str]] = field(
        default_factory=lambda: {
            "rate_limit": ("Too many requests", "RATE_LIMITED"),
            "server_error": ("Internal server error", "INTERNAL"),
        }
    )
    # index(sandbox) -> this fake's entry on GET / (its endpoints and demo credentials).
    index: Callable[[Sandbox], dict] = _nothing
    # state(sandbox, world summary, with_ids) -> keys this fake adds to GET /_sandbox/state.
    state: Callable[[Sandbox, dict, bool], dict] = _nothing
    # banner(sandbox, base URL) -> lines `flask sandbox serve` prints for this fake.
    banner: Callable[[Sandbox, str], list[str]] = lambda _sb, _base: []
    # warm(sandbox): serialise what the first reads would (optional).
    warm: Callable[[Sandbox], None] | None = None

    def owns(self, path: str) -> bool:
        return any(path.startswith(prefix) for prefix in self.prefixes)


def discover(package: str = "sandbox.fakes") -> list[Fake]:
    """The ``FAKE`` of every module of ``package``, by module name."""
    root = importlib.import_module(package)
    fakes = []
    for info in sorted(pkgutil.iter_modules(root.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package}.{info.name}")
        fake = getattr(module, "FAKE", None)
        if isinstance(fake, Fake):
            fakes.append(fake)
    return fakes


def json_bytes(body: bytes, status: int = 200, headers: Mapping[str, str] | None = None):
    """Already-serialised JSON as a response (the fakes build their pages as bytes)."""
    return Response(body, status=status, mimetype="application/json", headers=headers)


def current():
    """The running sandbox's state (``sandbox.app.Sandbox``) of the app serving the request."""
    from flask import current_app

    return current_app.extensions["sandbox"]
