"""A store's key pool, per product: how many keys are available, assigned, expired; the
low-pool alert; the threshold; deleting a key nobody has been given.

A product of the pool is what its keys were uploaded for: the store's SKU, or (a key
uploaded by supplier product id only) the supplier's product id. Only pool keys count (a
key bought from the supplier is assigned from the start and never in the pool).

- available: not given to any line, and not expired (what :func:`webapp.keys.pool.claim`
  can give);
- assigned: given to an order line (forever);
- expired: not given, and past its expiry: never given out, shown as expired.

The low-pool alert is an inbox message (``error_type`` "key_pool_low", severity error: a
person has to upload keys) per product whose available keys are below the store's
threshold (default 5; 0: no alerts). It is raised by the run that finds the pool low (an
upload, a check: :func:`refresh_alerts`), at most one open per product, and closed by the
run that finds it refilled (or the product gone from the pool).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, delete, func, insert, or_, select, update

from webapp.extensions import db
from webapp.models import Message
from webapp.models import runs as R
from webapp.models.base import utcnow
from webapp.models.keys import DEFAULT_LOW_THRESHOLD, POOL, DigitalKey, KeyPoolSettings

LOW = "key_pool_low"
# The alert's subject: which identifier names the product.
BY_SKU, BY_SUPPLIER = "keys_sku", "keys_supplier"
MAX_THRESHOLD = 1_000_000


@dataclass
class Level:
    sku: str | None
    supplier_product_id: str | None
    available: int
    assigned: int
    expired: int

    @property
    def subject(self) -> tuple[str, str]:
        if self.sku is not None:
            return BY_SKU, self.sku
        return BY_SUPPLIER, self.supplier_product_id or ""

    @property
    def label(self) -> str:
        kind, ident = self.subject
        return f"SKU {ident}" if kind == BY_SKU else f"supplier product {ident}"

    def as_dict(self) -> dict:
        return {
            "sku": self.sku,
            "supplier_product_id": self.supplier_product_id,
            "available": self.available,
            "assigned": self.assigned,
            "expired": self.expired,
        }


def threshold(store_id: int) -> int:
    row = db.session.get(KeyPoolSettings, store_id)
    return row.low_threshold if row is not None else DEFAULT_LOW_THRESHOLD


class ThresholdError(ValueError):
    pass


def parse_threshold(value) -> int:
    """A threshold as a person typed it (or JSON gave it): a whole number 0..1,000,000."""
    if isinstance(value, bool):
        raise ThresholdError("The threshold is a whole number (0 turns the alert off).")
    if isinstance(value, int):
        number = value
    else:
        text = str(value or "").strip()
        if not text.isascii() or not text.isdigit() or len(text) > 7:
            raise ThresholdError("The threshold is a whole number (0 turns the alert off).")
        number = int(text)
    if not 0 <= number <= MAX_THRESHOLD:
        raise ThresholdError(f"The threshold is between 0 and {MAX_THRESHOLD:,}.")
    return number


def set_threshold(store_id: int, value: int) -> None:
    """Store the threshold (the caller commits, then refreshes the alerts)."""
    row = db.session.get(KeyPoolSettings, store_id)
    if row is None:
        db.session.add(KeyPoolSettings(store_id=store_id, low_threshold=value))
    else:
        row.low_threshold = value


def levels(store_id: int, now=None) -> list[Level]:
    """Every product of the store's pool, by SKU then supplier product id."""
    now = now or utcnow()
    free = DigitalKey.assigned_at.is_(None)
    live = or_(DigitalKey.expires_at.is_(None), DigitalKey.expires_at > now)
    # A key named by SKU is the SKU's, whatever supplier id it also carries.
    supplier = case((DigitalKey.sku.is_(None), DigitalKey.supplier_product_id), else_=None)
    rows = db.session.execute(
        select(
            DigitalKey.sku,
            supplier.label("supplier"),
            func.sum(case((and_(free, live), 1), else_=0)),
            func.sum(case((free, 0), else_=1)),
            func.sum(case((and_(free, ~live), 1), else_=0)),
        )
        .where(DigitalKey.store_id == store_id, DigitalKey.source == POOL)
        .group_by(DigitalKey.sku, supplier)
        .order_by(DigitalKey.sku.is_(None), DigitalKey.sku, supplier)
    ).all()
    return [
        Level(sku, sup, int(available or 0), int(assigned or 0), int(expired or 0))
        for sku, sup, available, assigned, expired in rows
    ]


def open_alerts(store_id: int) -> dict[tuple[str, str], int]:
    """(subject, identifier) -> the open low-pool message's id."""
    rows = db.session.execute(
        select(Message.subject_type, Message.identifier, Message.id).where(
            Message.store_id == store_id,
            Message.error_type == LOW,
            Message.resolved_at.is_(None),
            Message.row_number.is_(None),
        )
    ).all()
    return {(kind, ident or ""): mid for kind, ident, mid in rows}


def alert_text(level: Level, limit: int) -> str:
    expired = f", {level.expired} expired" if level.expired else ""
    return (
        f"The key pool of {level.label} is low: {level.available} available "
        f"(below the threshold of {limit}{expired}). Upload more keys on the Key pool page."
    )


def refresh_alerts(store_id: int, run_id: int, now=None) -> dict[str, int]:
    """Open an alert for each low product that has none, close those refilled (or gone from
    the pool); committed. Returns {"raised", "closed", "low"}. ``run_id`` is the run that
    says it (the messages of the inbox belong to a run)."""
    now = now or utcnow()
    limit = threshold(store_id)
    found = levels(store_id, now)
    alerts = open_alerts(store_id)
    low = {lv.subject: lv for lv in found if limit and lv.available < limit}
    raised = [
        {
            "import_job_id": run_id,
            "severity": R.ERROR,
            "error_type": LOW,
            "error_message": alert_text(lv, limit),
            "identifier": subject[1][:255],
            "subject_type": subject[0],
            "row_data": lv.as_dict(),
            "store_id": store_id,
            "created_at": now,
            "attempts": 0,
        }
        for subject, lv in low.items()
        if subject not in alerts
    ]
    if raised:
        db.session.execute(insert(Message), raised)
    closing = [mid for subject, mid in alerts.items() if subject not in low]
    if closing:
        db.session.execute(
            update(Message)
            .where(Message.id.in_(closing), Message.resolved_at.is_(None))
            .values(resolved_at=now, resolved_by=f"key pool refilled (run #{run_id})"[:255])
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    return {"raised": len(raised), "closed": len(closing), "low": len(low)}


def key_state(key: DigitalKey, now=None) -> str:
    if key.assigned_at is not None:
        return "assigned"
    if key.expires_at is not None and key.expires_at <= (now or utcnow()):
        return "expired"
    return "available"


def recent_keys(store_id: int, *, limit: int = 50, before: int | None = None) -> list[DigitalKey]:
    """The store's pool keys, newest first (the page shows them masked)."""
    query = select(DigitalKey).where(DigitalKey.store_id == store_id, DigitalKey.source == POOL)
    if before is not None:
        query = query.where(DigitalKey.id < before)
    return list(db.session.scalars(query.order_by(DigitalKey.id.desc()).limit(limit)))


def delete_key(store_id: int, key_id: int) -> bool:
    """Delete one of the store's pool keys that was never given to a line (the guard and the
    claim's are one UPDATE/DELETE each: a key being claimed is either claimed or deleted,
    never both). False: no such free key of this store. The caller commits."""
    gone = db.session.execute(
        delete(DigitalKey)
        .where(
            DigitalKey.id == key_id,
            DigitalKey.store_id == store_id,
            DigitalKey.source == POOL,
            DigitalKey.assigned_at.is_(None),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(gone)
