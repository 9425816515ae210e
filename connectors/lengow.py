"""Lengow, the connector hub (API v3): orders from Amazon, Cdiscount, ManoMano and others.

This module declares the connector (what it can do, its settings and secrets);
the order import that uses them builds on ``connectors.http`` and
``connectors.pagination``.
"""

from __future__ import annotations

from types import MappingProxyType

from connectors.base import Capability, Connector, Setting
from connectors.http import LengowTokenProvider
from connectors.registry import register


@register
class LengowConnector(Connector):
    code = "lengow"
    name = "Lengow"
    capabilities = frozenset({Capability.ORDERS_IN, Capability.FULFILMENT_OUT})
    default_base_url = "https://api.lengow.io"
    settings = (
        Setting("account_id", "Lengow account id", required=True, help="e.g. 5622"),
        Setting("access_token", "Access token", secret=True, required=True),
        Setting("secret", "Secret", secret=True, required=True),
    )
    # 530 "Logical Error": bad input (an unknown catalog, invalid rules); retrying won't help.
    http_options = MappingProxyType({"reject_statuses": frozenset({530})})

    @classmethod
    def token_provider(cls, secrets):
        return LengowTokenProvider(secrets["access_token"], secrets["secret"])
