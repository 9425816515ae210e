"""What a connector is: a class that declares what it can do and what it needs.

As Redash's query runners do, each connector package defines a subclass of :class:`Connector`
whose class attributes say what it is (``code``, ``name``) and which settings an account needs
(``settings``, secrets marked), whose bases say what it can do (the capability interfaces of
:mod:`connectors.capabilities`: ``capabilities`` is derived from them, and
:meth:`Connector.supports` asks it), and ends with ``register(MyConnector)`` (see
:mod:`connectors.registry`). The web app builds its account forms
and masked views from these declarations; jobs build an instance per account with
:meth:`Connector.create` and call its methods. Nothing here knows about Flask or the database:
an instance gets plain dicts (settings, decrypted secrets) and a :class:`ConnectorHttp`.

Every connector has a ``base_url`` setting, production (``default_base_url``) unless the account
says otherwise, so an account can point at a marketplace's sandbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from types import MappingProxyType
from typing import Any, ClassVar
from urllib.parse import urlsplit

from connectors import jsonio
from connectors.capabilities import (
    ACK_ORDER,
    AcceptsOrders,
    AcknowledgesOrders,
    CancelsOrders,
    Capability,
    CapabilityInterface,
    CatalogOut,
    DigitalKeys,
    OrderLookup,
    OrdersIn,
    PricesOut,
    ProductsIn,
    RefundsOrders,
    Shipment,
    ShipsOrders,
    StockOut,
    SupplierCatalog,
)
from connectors.egress import Allowlist, Resolver
from connectors.errors import ConnectorError, redact
from connectors.http import ConnectorHttp, TokenProvider

__all__ = [
    "ACK_ORDER",
    "BASE_URL",
    "MASKED",
    "AcceptsOrders",
    "AcknowledgesOrders",
    "CancelsOrders",
    "Capability",
    "CatalogOut",
    "ConnectionResult",
    "Connector",
    "DigitalKeys",
    "OrderLookup",
    "OrdersIn",
    "OutboundRequest",
    "PricesOut",
    "ProductsIn",
    "RefundsOrders",
    "Setting",
    "Shipment",
    "ShipsOrders",
    "StockOut",
    "SupplierCatalog",
]

MASKED = "********"
BASE_URL = "base_url"


@dataclass(frozen=True)
class ConnectionResult:
    """The answer of "Test connection": a sentence for the page (no secret in it) and, when
    the marketplace told us more, a few facts worth showing (``details``)."""

    ok: bool
    message: str
    details: Mapping[str, Any] = dataclass_field(default_factory=dict)


@dataclass(frozen=True)
class OutboundRequest:
    """A change a connector would make on the marketplace, as data: built first, recorded
    (a dry run in test mode), sent later by :meth:`Connector.send`."""

    method: str
    path: str  # under the account's base URL
    body: Any = None  # JSON
    idempotent: bool = False  # safe to repeat (the same state twice)


def mask_values(value: Any, secrets: Mapping[str, Any]) -> Any:
    """``value`` (JSON) with every secret value masked wherever it appears, in any string."""
    hidden = [str(v) for v in secrets.values() if not _missing(v)]
    if not hidden:
        return value

    def walk(item: Any) -> Any:
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, list | tuple):
            return [walk(v) for v in item]
        if isinstance(item, str):
            for secret in hidden:
                item = item.replace(secret, MASKED)
        return item

    return walk(value)


@dataclass(frozen=True)
class Setting:
    """One field of an account's configuration. ``secret`` fields are stored encrypted, passed
    to the connector separately and shown masked; ``default`` fills a missing optional value."""

    name: str
    label: str
    secret: bool = False
    required: bool = False
    default: Any = None
    help: str = ""


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class Connector:
    """Base class for a marketplace or hub connector. Subclasses set the class attributes and
    override :meth:`token_provider` when the API needs one."""

    code: ClassVar[str] = ""
    name: ClassVar[str] = ""
    # Derived from the capability interfaces the class implements (never declared by hand).
    capabilities: ClassVar[frozenset[Capability]] = frozenset()
    settings: ClassVar[tuple[Setting, ...]] = ()
    default_base_url: ClassVar[str] = ""
    # Extra keyword arguments for this connector's ConnectorHttp (e.g. reject_statuses).
    http_options: ClassVar[Mapping[str, Any]] = MappingProxyType({})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "capabilities" in cls.__dict__:
            raise TypeError(
                f"{cls.__name__} declares capabilities by hand: implement the capability "
                "interfaces of connectors.capabilities instead (capabilities derive from them)"
            )
        cls.capabilities = frozenset(
            base.capability
            for base in cls.__mro__
            if isinstance(base, type)
            and issubclass(base, CapabilityInterface)
            and "capability" in base.__dict__
        )

    def __init__(
        self,
        account_id: int | str | None,
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
        http: ConnectorHttp,
    ) -> None:
        secret_names = self.secret_names()
        misplaced = sorted(set(settings) & secret_names)
        if misplaced:
            raise ValueError(f"secret settings passed as plain settings: {', '.join(misplaced)}")
        not_secret = sorted(set(secrets) - secret_names)
        if not_secret:
            raise ValueError(f"plain settings passed as secrets: {', '.join(not_secret)}")
        values = self.validate_settings({**settings, **secrets})
        self.account_id = account_id
        self.config = {k: v for k, v in values.items() if k not in secret_names}
        self.secrets = {k: v for k, v in values.items() if k in secret_names}
        self.http = http

    # -- declarations ------------------------------------------------------------------------

    @classmethod
    def all_settings(cls) -> tuple[Setting, ...]:
        """The declared settings, with the ``base_url`` setting added when not declared."""
        if any(s.name == BASE_URL for s in cls.settings):
            return cls.settings
        base = Setting(
            BASE_URL,
            "API base URL",
            default=cls.default_base_url or None,
            required=True,
            help="Production unless changed, e.g. to the marketplace's sandbox.",
        )
        return (*cls.settings, base)

    @classmethod
    def secret_names(cls) -> frozenset[str]:
        return frozenset(s.name for s in cls.all_settings() if s.secret)

    @classmethod
    def supports(cls, capability: Capability) -> bool:
        """Whether the connector implements ``capability``'s interface (class or instance)."""
        return capability in cls.capabilities

    has = supports  # the older name, still read by webapp.feeds.defaults

    @classmethod
    def validate_settings(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """A complete settings dict: unknown keys refused, defaults filled in, every required
        setting present (ValueError naming all missing ones), ``base_url`` an http(s) URL."""
        fields = {s.name: s for s in cls.all_settings()}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(
                f"unknown settings for {cls.code or cls.__name__}: {', '.join(unknown)}"
            )
        result: dict[str, Any] = {}
        missing: list[str] = []
        for name, field in fields.items():
            value = values.get(name)
            if isinstance(value, str):
                value = value.strip()
            if _missing(value):
                value = field.default
            if field.required and _missing(value):
                missing.append(name)
            result[name] = value
        if missing:
            labels = ", ".join(f"{fields[n].label} ({n})" for n in missing)
            raise ValueError(f"missing required settings: {labels}")
        base_url = result.get(BASE_URL)
        if base_url is not None:
            parts = urlsplit(str(base_url))
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError("the API base URL must be an http:// or https:// URL")
            result[BASE_URL] = str(base_url).rstrip("/")
        return result

    @classmethod
    def mask(cls, values: Mapping[str, Any]) -> dict[str, Any]:
        """``values`` fit to display: every secret that is set shows as ``********`` (a fixed
        string, so not even its length shows); an unset secret stays empty so the page can say
        so."""
        secret_names = cls.secret_names()
        return {
            key: ((MASKED if not _missing(value) else "") if key in secret_names else value)
            for key, value in values.items()
        }

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def token_provider(cls, secrets: Mapping[str, Any]) -> TokenProvider | None:
        """The token provider built from an account's secrets (none by default)."""
        return None

    @classmethod
    def create(
        cls,
        account_id: int | str | None,
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
        *,
        allow: Allowlist = frozenset(),
        resolver: Resolver | None = None,
        **http_kwargs: Any,
    ) -> Connector:
        """An instance for one account with its own ConnectorHttp: base URL from the settings,
        tokens from :meth:`token_provider`, the outbound allowlist from the caller (the app's
        ``MERCATO_OUTBOUND_ALLOW``). ``http_kwargs`` override the retry policy (tests)."""
        values = cls.validate_settings({**settings, **secrets})
        secret_values = {k: v for k, v in values.items() if k in cls.secret_names()}
        http = ConnectorHttp(
            values[BASE_URL],
            allow=allow,
            resolver=resolver,
            token_provider=cls.token_provider(secret_values),
            **{**cls.http_options, **http_kwargs},
        )
        return cls(account_id, settings, secrets, http)

    # -- connection test -----------------------------------------------------------------

    def probe_connection(self) -> tuple[str, Mapping[str, Any]]:
        """One small authenticated call: (a sentence saying what worked, details). Raises a
        ConnectorError when the marketplace refuses. Each connector overrides it."""
        raise NotImplementedError

    def test_connection(self) -> ConnectionResult:
        """:meth:`probe_connection`'s answer as a result; never raises for a marketplace
        problem, and no secret of the account or token the session held shows in it."""
        try:
            message, details = self.probe_connection()
        except NotImplementedError:
            return ConnectionResult(False, f"No connection test for {self.name or self.code}.")
        except ConnectorError as exc:
            hidden = [*map(str, self.secrets.values()), *self.http.secret_values()]
            return ConnectionResult(False, redact(str(exc), hidden))
        return ConnectionResult(True, message, dict(details))

    # -- outbound: what the connector changes on the marketplace ---------------------------

    # Actions this connector can perform (webapp.models.outbound: "order.merchant_order_id"...).
    outbound_actions: ClassVar[frozenset[str]] = frozenset()

    def outbound_request(self, action: str, params: Mapping[str, Any]) -> OutboundRequest:
        """The request that performs ``action`` with ``params`` (plain JSON, no secret)."""
        raise NotImplementedError(f"{self.code} cannot perform {action}")

    def describe(self, request: OutboundRequest) -> dict[str, Any]:
        """Method, URL and body of ``request`` as recorded and shown: secrets masked."""
        url, body = f"{self.base_url}{request.path}", request.body
        hidden = [str(v) for v in self.secrets.values() if not _missing(v)]
        # Walking the body costs more than looking for the secrets in its text first.
        text = url + (jsonio.dumps(body) if body is not None else "")
        if any(secret in text for secret in hidden):
            url, body = mask_values(url, self.secrets), mask_values(body, self.secrets)
        return {"method": request.method, "url": url, "body": body}

    def send(self, request: OutboundRequest) -> Any:
        return self.http.request(
            request.method, request.path, json=request.body, idempotent=request.idempotent
        )

    @property
    def base_url(self) -> str:
        return str(self.config[BASE_URL])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} code={self.code!r} account_id={self.account_id!r}>"
