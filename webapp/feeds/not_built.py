"""The flows that are not built yet: their feeds exist (an account's capabilities give them),
cannot be enabled or run, and say so.  Building one is replacing its ``declare`` here by a
decorated function in its area."""

from __future__ import annotations

from connectors.base import Capability
from webapp.runs.registry import OUT, declare

declare(
    "stock_export",
    label="Stock level export",
    direction=OUT,
    capability=Capability.STOCK_OUT,
    interval_seconds=900,
)
declare(
    "stock_check",
    label="Stock check",
    direction=OUT,
    capability=Capability.STOCK_OUT,
    cron_expression="0 3 * * *",
)
declare(
    "price_export",
    label="Price export",
    direction=OUT,
    capability=Capability.PRICES_OUT,
    cron_expression="0 2 * * *",
)
declare("catalog_export", label="Catalog export", direction=OUT, cron_expression="0 1 * * *")
