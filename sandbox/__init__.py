"""Local fake marketplaces for demos and tests: one module per marketplace in
``sandbox.fakes`` (Lengow API v3, the Letzshop GraphQL orders query), served by one app.

Run it with ``flask sandbox serve``; build it in tests with ``create_sandbox_app(config)``.
It needs no database, Redis or secrets: every order lives in memory, generated from a seed.

Fault switches (at start: ``--faults 429,500,slow,expire,move``; at runtime:
``POST /_sandbox/faults`` with JSON, ``null`` switches one off, ``DELETE`` clears all):

- ``rate_limit: {"every": N, "retry_after": S}`` - every Nth API request answers 429 with a
  ``Retry-After: S`` header;
- ``server_error: {"every": N, "status": 500}`` - every Nth API request fails (540 is Lengow's
  documented "Technical Error");
- ``slow: {"seconds": S, "every": N}`` - every Nth API request waits S seconds first;
- ``token_ttl: S`` - Lengow tokens issued from now on die after S seconds although
  ``expire_at`` still announces the documented hour;
- ``move_on_page: P`` - each time page P of a listing is served, its first order changes status
  and a late order (dated just before it) arrives, so orders shift across page boundaries.
"""

from sandbox.app import create_sandbox_app
from sandbox.cli import sandbox_cli

__all__ = ["create_sandbox_app", "sandbox_cli"]
