"""The product-feed import engine: source -> records -> canonical rows -> upsert."""
