"""The columns of a history table of runs: one row template (``runs/_row.html``) shows any
kind of run, and each table picks the columns it needs from one vocabulary."""

from __future__ import annotations

# The store's (and the admin's) imports: where the data came from.
IMPORTS = ("run", "created", "source", "status", "counts", "duration")
# A feed's executions (and every feed's, on the executions page): which feed, which account.
EXECUTIONS = ("run", "feed", "account", "trigger", "status", "started", "duration", "counts")
# Bulk shipping uploads (the orders list's CSV): who uploaded, when, what came of it.
SHIPMENTS = ("run", "creator", "started", "status", "duration", "counts")
TABLES = {"imports": IMPORTS, "executions": EXECUTIONS, "shipments": SHIPMENTS}


def run_columns(table: str, *, store: bool = False, creator: bool = False) -> tuple[str, ...]:
    """The columns of ``table``; ``store`` and ``creator`` add the admin's columns after the
    run's number (an execution row also links to its messages)."""
    base = TABLES[table]
    extra = ("store",) * store + ("creator",) * creator
    tail = ("messages",) if table in ("executions", "shipments") else ()
    return base[:1] + extra + base[1:] + tail
