"""Connectors: code that talks to systems outside Mercato (feeds, marketplaces). No Flask here."""
