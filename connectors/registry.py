"""Where connector classes are collected, by code.

Each connector package ends with ``register(TheConnector)`` (or uses it as a class decorator);
the web app lists connectors and their capabilities from here, jobs look one up by the account's
connector code. Registering two different classes under one code is a programming error and
raises at import time rather than letting the second silently win.

Connector packages must be imported for their ``register`` to run: the default registry
imports every subpackage of ``connectors/`` on first use (:func:`connector_packages`), so a
new connector is one folder there and no list to edit.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable

from connectors.base import Capability, Connector

__all__ = [
    "BUILTIN_MODULES",
    "connector_packages",
    "Registry",
    "UnknownConnector",
    "all_connectors",
    "default_registry",
    "get",
    "register",
    "with_capability",
]

# The connectors shipped today (what connector_packages() finds in a clean checkout).
BUILTIN_MODULES: tuple[str, ...] = (
    "connectors.codeswholesale",
    "connectors.lengow",
    "connectors.letzshop",
    "connectors.shoppingfeed",
)


def connector_packages() -> tuple[str, ...]:
    """Every subpackage of ``connectors`` (one per connector), by name."""
    import connectors

    found = [m.name for m in pkgutil.iter_modules(connectors.__path__) if m.ispkg]
    return tuple(f"connectors.{name}" for name in sorted(found))


class UnknownConnector(KeyError):
    """No connector is registered under that code."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown connector"


class Registry:
    """Connector classes by code. The module-level functions use :data:`default_registry`;
    tests build their own so that test connectors do not leak into the app's list."""

    def __init__(self, modules: Iterable[str] | Callable[[], Iterable[str]] = ()) -> None:
        """``modules``: names to import on first use, or a function naming them then."""
        self._by_code: dict[str, type[Connector]] = {}
        self._modules = modules if callable(modules) else tuple(modules)
        self._loaded = not modules

    def register(self, cls: type[Connector]) -> type[Connector]:
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise TypeError(f"{cls!r} is not a Connector subclass")
        if not cls.code:
            raise ValueError(f"{cls.__name__} has no code")
        if not cls.name:
            raise ValueError(f"{cls.__name__} has no name")
        if inspect.isabstract(cls):
            missing = ", ".join(sorted(getattr(cls, "__abstractmethods__", ())))
            raise ValueError(
                f"{cls.__name__} lists a capability interface it does not implement: {missing}"
            )
        names = [s.name for s in cls.all_settings()]
        if len(names) != len(set(names)):
            raise ValueError(f"{cls.__name__} declares a setting twice")
        existing = self._by_code.get(cls.code)
        if existing is not None and existing is not cls:
            raise ValueError(
                f"connector code {cls.code!r} is already registered by "
                f"{existing.__module__}.{existing.__qualname__}"
            )
        self._by_code[cls.code] = cls
        return cls

    def _ensure_loaded(self) -> None:
        if not self._loaded:
            self._loaded = True
            modules = self._modules() if callable(self._modules) else self._modules
            for module in modules:
                importlib.import_module(module)

    def get(self, code: str) -> type[Connector]:
        self._ensure_loaded()
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownConnector(f"no connector is registered with code {code!r}") from None

    def all_connectors(self) -> list[type[Connector]]:
        """Every registered connector, ordered by code."""
        self._ensure_loaded()
        return [self._by_code[code] for code in sorted(self._by_code)]

    def with_capability(self, capability: Capability) -> list[type[Connector]]:
        return [cls for cls in self.all_connectors() if cls.supports(capability)]

    def __contains__(self, code: object) -> bool:
        self._ensure_loaded()
        return code in self._by_code


default_registry = Registry(connector_packages)


def register(cls: type[Connector]) -> type[Connector]:
    """Add ``cls`` to the registry (usable as a class decorator). Same class twice is fine; a
    different class under a code already taken raises ValueError."""
    return default_registry.register(cls)


def get(code: str) -> type[Connector]:
    """The connector class for ``code``; :class:`UnknownConnector` (a KeyError) otherwise."""
    return default_registry.get(code)


def all_connectors() -> list[type[Connector]]:
    return default_registry.all_connectors()


def with_capability(capability: Capability) -> list[type[Connector]]:
    return default_registry.with_capability(capability)
