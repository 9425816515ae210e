"""The flows that are not built yet: their feeds exist (an account's capabilities give them),
cannot be enabled or run, and say so.  Building one is replacing its ``declare`` here by a
decorated function in its area.

None today: the last one, the catalog export, is :mod:`webapp.catalogfeed.flows` (issue 15).
A flow to come is declared here with ``webapp.runs.registry.declare`` until it is built.
"""

from __future__ import annotations
