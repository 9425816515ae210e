"""The unified order book: orders in from connectors, never duplicated; its pages in
``routes`` (blueprint ``orders``: /store/<code>/orders...)."""
