"""Helpers of the order tests: the sandbox's counters, an in-process RQ worker."""

from __future__ import annotations

import requests

from tests.inprocess_worker import InProcessWorker
from webapp.extensions import queue


def sandbox_counters(url: str) -> dict[str, int]:
    return requests.get(f"{url}/_sandbox/state?ids=0", timeout=10).json()["counters"]


def work_default_queue() -> bool:
    """Run the queued jobs (the outbound step) with an in-process RQ worker, as RQ would."""
    default = queue("default")
    return InProcessWorker([default], connection=default.connection).work(burst=True)
