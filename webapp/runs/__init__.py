"""Runs: the one lifecycle every execution goes through, and the flows it runs.

:mod:`webapp.runs.registry` is where a feed kind is declared, once, by the function that runs
it (``@flow``); :mod:`webapp.runs.lifecycle` is the only place that creates a run, enqueues
its job, records what it says and finishes it; :mod:`webapp.runs.liveness` is the heartbeat
the abandoned-run sweep reads.  Areas declare flows; this package never imports an area by
name (the registry loads the modules listed in ``FLOW_MODULES``).
"""
