"""Letzshop (GraphQL): orders in, fulfilment out; product feeds come in as CSV imports."""

from __future__ import annotations

from connectors.base import Capability, Connector, Setting
from connectors.http import BearerTokenProvider
from connectors.registry import register


@register
class LetzshopConnector(Connector):
    code = "letzshop"
    name = "Letzshop"
    capabilities = frozenset({Capability.ORDERS_IN, Capability.FULFILMENT_OUT})
    default_base_url = "https://letzshop.lu/graphql"
    settings = (Setting("api_token", "API token", secret=True, required=True),)

    @classmethod
    def token_provider(cls, secrets):
        return BearerTokenProvider(secrets["api_token"])
