"""Monitoring for operators: the integrations' health, Prometheus metrics, and their figures."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("monitoring", __name__)

from webapp.monitoring import routes  # noqa: E402,F401
