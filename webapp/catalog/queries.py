"""Read side of one product's page."""

from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import MarketplaceProduct, Message, Run, Store

# A product's messages are looked for in its store's latest imports of its marketplace (and
# the import that last wrote it): each run's messages are read on their own index, so the
# page costs the same whatever the size of the message table.
RECENT_IMPORTS = 10
MAX_MESSAGES = 50


def product_messages(store: Store, source: MarketplaceProduct) -> list[tuple[Message, Run]]:
    """What the recent imports said about this product id (errors and warnings on its
    rows), newest import first, in file order within an import."""
    run_ids = list(
        db.session.scalars(
            select(Run.id)
            .where(
                Run.store_id == store.id,
                Run.kind == "product_import",
                Run.marketplace == source.marketplace,
            )
            .order_by(Run.id.desc())
            .limit(RECENT_IMPORTS)
        )
    )
    if source.last_import_job_id and source.last_import_job_id not in run_ids:
        run_ids.append(source.last_import_job_id)
    if not run_ids:
        return []
    rows = db.session.execute(
        select(Message, Run)
        .join(Run, Run.id == Message.import_job_id)
        .where(
            Message.import_job_id.in_(run_ids),
            Message.identifier == source.marketplace_product_id,
            Run.store_id == store.id,
        )
        .order_by(Message.import_job_id.desc(), Message.row_number, Message.id)
        .limit(MAX_MESSAGES)
    ).all()
    return [(message, run) for message, run in rows]
