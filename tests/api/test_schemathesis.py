"""Schemathesis against /api/v1, in-process, on both databases: a bounded, seeded run.

Schemathesis reads the served OpenAPI document and generates requests from it: the
document's examples, boundary values of every parameter and body field (the coverage
phase: the largest documented number and one beyond it, empty values, wrong types), then
random valid and invalid requests (fuzzing). Every answer must be no 500, have a documented
status, content type and headers, match its schema, and refuse what the document says is
invalid (and accept what it says is valid). Seeded, so a failure replays identically.

The run goes through schemathesis' engine (what its CLI runs) with an admin's token: an
admin passes every permission check, so every operation reaches its database queries (a
store user's answers on the admin operations are 403 before any). schemathesis' pytest
integration (``from_fixture``/``parametrize``) does not run under pytest 9.2, whose nodes no
longer have the ``_nodeid`` it rewrites.
"""

from __future__ import annotations

import pytest
import schemathesis
from schemathesis.engine import Status, events

from webapp.api.openapi import DOCUMENT

SEED = 20261206
MAX_EXAMPLES = 5  # fuzzing examples per operation and generation mode (coverage: all bounds)

PHASES = ("examples", "coverage", "fuzzing")

# A schema-valid request is accepted or refused for a documented reason (2xx, 401, 403, 404,
# 409, 429: schemathesis' default) - except the imports, whose well-formed requests may still
# be refused with 422 for what only the server knows: the feed URL's host does not resolve
# or is private, the store does not exist or is inactive, the uploaded file is empty.
ACCEPTED = ["2xx", "401", "403", "404", "409", "429"]
IMPORTS_MAY_REFUSE = {
    "include-method": "POST",
    "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "422"]}},
}
# schemathesis 4.32.5's ignored_auth probe hands `max_redirects` to Werkzeug's test client,
# which refuses it (TypeError) on the in-process transport; tests/api/test_auth.py checks
# that every endpoint refuses a missing, unknown or revoked token.
CHECKS = {"ignored_auth": {"enabled": False}}


def run_schemathesis(app, token: str, *, seed: int = SEED) -> tuple[list[str], dict]:
    """Run every operation of the served document; (failures as text, counts per phase)."""
    config = schemathesis.Config.from_dict(
        {
            "seed": seed,
            "headers": {"Authorization": f"Bearer {token}"},
            "generation": {"mode": "all", "max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": {
                **{name: {"enabled": True} for name in PHASES},
                "stateful": {"enabled": False},
            },
            "checks": CHECKS,
            "operations": [IMPORTS_MAY_REFUSE],
        }
    )
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, config=config)
    failures: list[str] = []
    scenarios: dict[str, int] = {}
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            raise AssertionError(f"schemathesis stopped: {event.exception!r}")
        if isinstance(event, events.NonFatalError):
            failures.append(f"{event.label}: error {event.value!r}")
        if isinstance(event, events.ScenarioFinished):
            phase = str(event.phase.value if hasattr(event.phase, "value") else event.phase)
            scenarios[phase] = scenarios.get(phase, 0) + 1
            if event.status in (Status.FAILURE, Status.ERROR):
                for checks in event.recorder.checks.values():
                    for check in checks:
                        if check.status == Status.FAILURE and check.failure_info:
                            info = check.failure_info
                            failures.append(
                                f"{event.recorder.label} [{check.name}] {info.failure.title}: "
                                f"{info.failure.message}\n{info.code_sample}"
                            )
    return sorted(set(failures)), scenarios


@pytest.fixture
def generous_rate_limit(app):
    app.config["MERCATO_API_RATE_PER_MINUTE"] = 100_000  # the limiter has its own tests


def test_the_api_answers_as_its_document_says(app, store, admin, generous_rate_limit):
    failures, scenarios = run_schemathesis(app, admin.token)
    assert failures == [], f"{len(failures)} schemathesis failures:\n\n" + "\n\n".join(failures)
    # Every operation of the document went through the coverage and fuzzing phases.
    operations = sum(len(item) for item in DOCUMENT["paths"].values())
    assert scenarios.get("coverage", 0) >= operations - 1, scenarios  # all but openapi.json
    assert scenarios.get("fuzzing", 0) >= operations - 1, scenarios
