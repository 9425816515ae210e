"""The ``digital_keys`` e-mail: what it shows (built at send time, so no key is stored in a
message) and what its sending changes here.

- :func:`keys_context` (``@mail_kind``): the order, its digital lines and each line's keys,
  decrypted only now (a text key as text, an image key as its bytes with its file name);
- :func:`keys_sent` (``@on_sent``): the lines whose keys went are ``sent``; a fully digital
  order is then ``fulfilled`` with a status-history entry; a mixed one keeps its shipping flow.
"""

from __future__ import annotations

from sqlalchemy import select, update

from webapp.extensions import db
from webapp.keys import codes
from webapp.mail import mail_kind, on_sent
from webapp.models import DigitalKey, Order, OrderItem, OrderStatusHistory
from webapp.models import orders as O
from webapp.models.base import utcnow
from webapp.models.keys import IMAGE

KIND = "digital_keys"
ASSIGNED, SENT = "assigned", "sent"


def _order_id(subject) -> int:
    """The order a message is about: its id, or a message carrying ``subject_id``."""
    return int(getattr(subject, "subject_id", subject))


def shown_key(key: DigitalKey) -> dict:
    if key.code_type == IMAGE:
        return {"type": "image", "filename": key.image_filename, "image": codes.open_image(key)}
    return {"type": "text", "code": codes.open_text(key)}


@mail_kind(KIND)
def keys_context(subject) -> dict:
    order = db.session.get(Order, _order_id(subject))
    lines = list(
        db.session.scalars(
            select(OrderItem)
            .where(OrderItem.order_id == order.id, OrderItem.is_digital.is_(True))
            .order_by(OrderItem.id)
        )
    )
    keys: dict[int, list[DigitalKey]] = {}
    for key in db.session.scalars(
        select(DigitalKey)
        .where(DigitalKey.order_item_id.in_([line.id for line in lines]))
        .order_by(DigitalKey.id)
    ):
        keys.setdefault(key.order_item_id, []).append(key)
    return {
        "order": order,
        "lines": [
            {
                "line": line,
                "sku": line.sku,
                "name": line.product_name or line.sku,
                "quantity": line.quantity,
                "keys": [shown_key(k) for k in keys.get(line.id, [])],
            }
            for line in lines
        ],
    }


@on_sent(KIND)
def keys_sent(subject, **_context) -> None:
    """The keys e-mail went: its lines are ``sent``; a fully digital order is fulfilled."""
    order = db.session.get(Order, _order_id(subject))
    if order is None:
        return
    now = utcnow()
    db.session.execute(
        update(OrderItem)
        .where(
            OrderItem.order_id == order.id,
            OrderItem.is_digital.is_(True),
            OrderItem.key_state == ASSIGNED,
        )
        .values(key_state=SENT)
        .execution_options(synchronize_session=False)
    )
    physical = db.session.scalar(
        select(OrderItem.id)
        .where(OrderItem.order_id == order.id, OrderItem.is_digital.is_(False))
        .limit(1)
    )
    unsent = db.session.scalar(
        select(OrderItem.id)
        .where(
            OrderItem.order_id == order.id,
            OrderItem.is_digital.is_(True),
            OrderItem.key_state != SENT,
        )
        .limit(1)
    )
    if physical is None and unsent is None and order.status != O.FULFILLED:
        db.session.add(
            OrderStatusHistory(
                order_id=order.id,
                from_status=order.status,
                to_status=O.FULFILLED,
                from_marketplace_status=order.marketplace_status,
                to_marketplace_status=order.marketplace_status,
                changed_by="digital_fulfilment",
                reason="Every key was e-mailed to the customer.",
                created_at=now,
            )
        )
        order.status = O.FULFILLED
        order.updated_at = now
    db.session.commit()
