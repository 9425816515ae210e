"""The store's catalog: publishing imported products with the store's overrides."""
