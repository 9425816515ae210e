"""The flows that are not built yet: their feeds exist (an account's capabilities give them),
cannot be enabled or run, and say so.  Building one is replacing its ``declare`` here by a
decorated function in its area."""

from __future__ import annotations

from connectors.base import Capability
from webapp.runs.registry import IN, OUT, declare

declare(
    "supplier_catalog",
    label="Sync supplier catalog",
    direction=IN,
    capability=Capability.DIGITAL_KEYS,
    interval_seconds=6 * 3600,
)
declare("catalog_export", label="Catalog export", direction=OUT, cron_expression="0 1 * * *")
