"""Local fake marketplaces for demos and tests: one module per marketplace in
``sandbox.fakes`` (Lengow API v3, the Letzshop GraphQL orders query), served by one app.

Run it with ``flask sandbox serve``; build it in tests with ``create_sandbox_app(config)``.
It needs no database, Redis or secrets: every order lives in memory, generated from a seed.

Fault switches (at start: ``--faults 429,500,slow,expire,move,timeout,action_error,stuck``; at
runtime:
``POST /_sandbox/faults`` with JSON, ``null`` switches one off, ``DELETE`` clears all):

- ``rate_limit: {"every": N, "retry_after": S}`` - every Nth API request answers 429 with a
  ``Retry-After: S`` header;
- ``server_error: {"every": N, "status": 500}`` - every Nth API request fails (540 is Lengow's
  documented "Technical Error");
- ``slow: {"seconds": S, "every": N}`` - every Nth API request waits S seconds first;
- ``token_ttl: S`` - Lengow tokens issued from now on die after S seconds although
  ``expire_at`` still announces the documented hour;
- ``move_on_page: P`` - each time page P of a listing is served, its first order changes status
  and a late order (dated just before it) arrives, so orders shift across page boundaries;
- ``action_timeout: {"seconds": S, "times": N}`` - the next N Lengow order actions POSTed are
  taken, but their answer is held S seconds (past the client's timeout);
- ``action_error: {"message": M, "times": N}`` - the next N actions end with the marketplace's
  error M (``queued`` false, ``processed`` false, ``errors`` M);
- ``action_stuck: {"polls": P, "times": N}`` - the next N actions stay queued P reads of the
  actions list longer than the others.

Lengow order actions stay queued ``SANDBOX_ACTION_SECONDS`` (default: the lifecycle step) and
``SANDBOX_ACTION_POLLS`` reads of ``GET /v3.0/orders/actions/`` that show them, then are
processed. The marketplaces endpoint declares each action's arguments as the 2024 payloads do
(carriers with ``Other`` and a ``carrier_name`` that ``depends_on`` it, closed lists of cancel and
refund reasons), and a POST missing one or outside a closed list is refused with 400.
"""

from sandbox.app import create_sandbox_app
from sandbox.cli import sandbox_cli

__all__ = ["create_sandbox_app", "sandbox_cli"]
