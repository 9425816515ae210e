"""The unified order book: orders in from connectors, never duplicated."""
