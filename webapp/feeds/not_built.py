"""The flows that are not built yet: their feeds exist (an account's capabilities give them),
cannot be enabled or run, and say so.  Building one is replacing its ``declare`` here by a
decorated function in its area."""

from __future__ import annotations

from webapp.runs.registry import OUT, declare

declare("catalog_export", label="Catalog export", direction=OUT, cron_expression="0 1 * * *")
