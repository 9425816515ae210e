"""The product feed as the stock source: when the store says so, the quantity column of a
product import sets on hand of each SKU in the default warehouse.

Run once the import has written its products, set-based: one ``INSERT ... SELECT`` writes a
``feed_import`` movement for every product the run inserted or changed (its
``last_import_job_id``) whose quantity differs from the level, and returns the deltas the
levels then take in one upsert. The import's row loop is untouched; a product the run left
unchanged kept its quantity, so its level has nothing to follow.
"""

from __future__ import annotations

from sqlalchemy import text

from webapp.extensions import db
from webapp.models.base import utcnow
from webapp.stock import levels

FROM_FEED_SQL = """
INSERT INTO stock_movements (store_id, sku, warehouse_id, reason, on_hand_delta,
    reserved_delta, run_id, actor, created_at)
SELECT mp.store_id, mp.marketplace_product_id, :warehouse, 'feed_import',
    mp.quantity - COALESCE(l.on_hand, 0), 0, :run, 'product feed', :now
FROM marketplace_products mp
LEFT JOIN stock_levels l ON l.store_id = mp.store_id
    AND l.sku = mp.marketplace_product_id AND l.warehouse_id = :warehouse
WHERE mp.store_id = :store AND mp.last_import_job_id = :run
  AND mp.quantity IS NOT NULL AND mp.quantity >= 0
  AND (l.id IS NULL OR l.on_hand <> mp.quantity)
ORDER BY mp.marketplace_product_id
RETURNING sku, warehouse_id, on_hand_delta, reserved_delta
"""


def follow_feed(store_id: int, run_id: int) -> int:
    """Set on hand from the quantities the run imported, if the store's feed is its stock
    source; returns how many levels changed. Commits."""
    if not levels.store_settings(store_id).feed_is_stock_source:
        return 0
    warehouse = levels.default_warehouse_id(store_id)
    now = utcnow()
    rows = db.session.execute(
        text(FROM_FEED_SQL), {"warehouse": warehouse, "run": run_id, "store": store_id, "now": now}
    ).all()
    deltas = {}
    for sku, wh, d_on_hand, _ in rows:
        deltas[(sku, wh)] = (d_on_hand, 0)
    levels.move_levels(store_id, deltas, now)
    # A SKU set to 0 by a feed that never had a level still gets one (the stock knows it).
    levels.ensure_levels(store_id, [k for k, (delta, _) in deltas.items() if delta == 0], now)
    db.session.commit()
    return len(rows)
