from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.imports.service import create_run, execute
from webapp.models import MarketplaceProduct, Message, Run


def import_file(store, path: Path | str, **options) -> Run:
    run = create_run(store, source_path=str(path), trigger="cli", **options)
    return execute(run.id)


def write(tmp_path: Path, name: str, data: bytes | str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return path


def products(store, marketplace: str = "Letzshop") -> dict[str, MarketplaceProduct]:
    rows = db.session.scalars(
        select(MarketplaceProduct).where(
            MarketplaceProduct.store_id == store.id,
            MarketplaceProduct.marketplace == marketplace,
        )
    ).all()
    return {p.marketplace_product_id: p for p in rows}


def messages(run: Run) -> list[Message]:
    return db.session.scalars(
        select(Message).where(Message.import_job_id == run.id).order_by(Message.id)
    ).all()


def product_count() -> int:
    return db.session.scalar(select(func.count()).select_from(MarketplaceProduct))
