"""The flow registry: a feed kind is declared once, by the function that runs it.

    @flow("import_orders", label="Import new orders", run_kind="order_import",
          capability=Capability.ORDERS_IN, interval_seconds=300, cursor=True)
    def poll_orders(run): ...

Everything else derives from these declarations: the default feeds an account or a store
gets and their schedules (:mod:`webapp.feeds.defaults`), what an execution dispatches to
(:func:`webapp.runs.lifecycle.execute`), the queue its job goes to, the kinds the feed pages
list.  A flow that is not built yet is declared with :func:`declare` (no function): its feed
exists, cannot be enabled or run, and says so.  ``owner`` says whose feed runs it: "account",
"store" (the store's own files) or None (a flow of no feed kind of its own, started for a
run: an upload, the outbound sender).

The registry imports no area: the modules that declare flows are listed by name in
``FLOW_MODULES`` and loaded on first use, so models and the lifecycle stay below the areas.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass

from webapp.models.feeds import BUILT_FLOWS, IN, KINDS, OUT  # noqa: F401  (IN, OUT: re-exported)

# The modules whose import declares every flow (in the order the pages list their kinds).
FLOW_MODULES = (
    "webapp.imports.flows",
    "webapp.orders.service",
    "webapp.outbound.sender",
    "webapp.orders.shipping",
    "webapp.imports.stock_file",
    "webapp.imports.supplier",
    "webapp.imports.shipments",
    "webapp.pushes.flows",
    "webapp.imports.keys_file",
    "webapp.mail.sender",
    "webapp.digital.fulfil",
    "webapp.digital.balance",
    "webapp.catalogfeed.flows",
    "webapp.feeds.not_built",
)


@dataclass(frozen=True)
class Flow:
    kind: str
    label: str
    direction: str = IN
    owner: str | None = "account"  # "account", "store", or None: no feed of its own
    run_kind: str = ""  # what its runs are recorded as (default: the kind)
    capability: object = None  # the connectors.base.Capability that gives an account this feed
    interval_seconds: int | None = None
    cron_expression: str | None = None
    queue: str = "default"
    cursor: bool = False  # the feed keeps a cursor (its last successful sync)
    func: Callable | None = None  # None: not built
    module: str = ""  # the module that declared it: the pages list kinds in FLOW_MODULES order

    @property
    def built(self) -> bool:
        return self.func is not None


_FLOWS: dict[str, Flow] = {}
_loaded = False


def _add(flow_: Flow) -> Flow:
    flow_ = Flow(**{**flow_.__dict__, "run_kind": flow_.run_kind or flow_.kind})
    _FLOWS[flow_.kind] = flow_
    if flow_.owner is not None:  # a feed kind: the models name it from here
        KINDS[flow_.kind] = (flow_.direction, flow_.label)
        if flow_.built:
            BUILT_FLOWS[flow_.kind] = flow_.owner
    return flow_


def flow(kind: str, *, label: str, **options) -> Callable[[Callable], Callable]:
    """Declare the flow ``kind``, run by the decorated function (which receives the run)."""

    def register(func: Callable) -> Callable:
        _add(Flow(kind=kind, label=label, func=func, module=func.__module__, **options))
        return func

    return register


def declare(kind: str, *, label: str, **options) -> Flow:
    """Declare a flow that is not built yet (its feed exists and says so)."""
    module = sys._getframe(1).f_globals.get("__name__", "")
    return _add(Flow(kind=kind, label=label, module=module, **options))


def unregister(kind: str) -> None:
    """Forget a flow (a test's throwaway one)."""
    _FLOWS.pop(kind, None)
    KINDS.pop(kind, None)
    BUILT_FLOWS.pop(kind, None)


def load() -> dict[str, Flow]:
    global _loaded
    if not _loaded:
        for name in FLOW_MODULES:
            importlib.import_module(name)
        _in_declared_order()
        _loaded = True
    return _FLOWS


def _in_declared_order() -> None:
    """Whichever module an app imported first, the kinds are listed in FLOW_MODULES order
    (inbound first), each module's in the order it declares them."""
    rank = {name: i for i, name in enumerate(FLOW_MODULES)}
    ordered = sorted(
        enumerate(_FLOWS.values()), key=lambda p: (rank.get(p[1].module, len(rank)), p[0])
    )
    declared = [f for _, f in ordered]
    _FLOWS.clear()
    KINDS.clear()
    BUILT_FLOWS.clear()
    for flow_ in declared:
        _add(flow_)


def flows() -> list[Flow]:
    return list(load().values())


def get(kind: str) -> Flow | None:
    return load().get(kind)


def feed_kinds() -> dict[str, Flow]:
    """The kinds a feed can be of (flows with an owner), in declaration order."""
    return {k: f for k, f in load().items() if f.owner is not None}


def follower_run_kinds() -> tuple[str, ...]:
    """Run kinds of the flows that only follow a feed's own (the outbound sender): shown
    among the feed's executions, never taken for its last run or its health."""
    found = load()
    own = {f.run_kind for f in found.values() if f.owner is not None}
    return tuple(
        sorted({f.run_kind for f in found.values() if f.owner is None and f.run_kind not in own})
    )


def is_built(kind: str, account_id: int | None) -> bool:
    """Whether a feed of ``kind`` (an account's, or a store's own with no account) has a
    flow to run: a declared function, and the feed is of the owner the flow is for."""
    found = get(kind)
    if found is None or not found.built or found.owner is None:
        return False
    return (found.owner == "account") == (account_id is not None)


def for_run(run_kind: str, feed_kind: str | None) -> Flow | None:
    """What executes a run: its feed's flow when the run is of that flow's kind, otherwise
    the flow of no feed recorded as the run's kind (an upload, the outbound sender)."""
    found = load()
    feed_flow = found.get(feed_kind) if feed_kind else None
    if feed_flow is not None and feed_flow.run_kind == run_kind:
        return feed_flow
    for candidate in found.values():
        if candidate.owner is None and candidate.run_kind == run_kind:
            return candidate
    if feed_flow is None and feed_kind is None:  # a run of no feed: the flow of its kind
        return next((f for f in found.values() if f.run_kind == run_kind), None)
    return feed_flow
