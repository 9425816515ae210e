"""Monitoring: every health endpoint (``/healthz`` for load balancers, the integrations' health
for operators), Prometheus metrics, and their figures."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("monitoring", __name__)

from webapp.monitoring import healthz, routes  # noqa: E402,F401
