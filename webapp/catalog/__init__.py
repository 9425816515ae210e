"""The store's catalog: publishing imported products with the store's overrides; its pages in
``routes`` (blueprint ``catalog``: /store/<code>/products...)."""
