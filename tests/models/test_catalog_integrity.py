"""The imported catalog keeps its references on both back-ends: declared foreign keys on
SQLite, statement-level checks on PostgreSQL (migration 0010)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError

from tests.imports.helpers import import_file, write
from webapp.extensions import db
from webapp.models import MarketplaceProduct, MarketplaceProductTranslation, Product, Store

FEED = "id,title,price\nA1,Chair,10.00 EUR\nA2,Table,20.00 EUR\n"


def _insert_product(store_id: int) -> None:
    db.session.execute(
        text(
            "INSERT INTO marketplace_products (store_id, marketplace, marketplace_product_id, "
            "content_hash, created_at, updated_at) "
            "VALUES (:store, 'Letzshop', 'X1', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ),
        {"store": store_id},
    )


def test_a_product_needs_its_store(store):
    with pytest.raises(IntegrityError):
        _insert_product(store.id + 1000)
        db.session.flush()
    db.session.rollback()
    _insert_product(store.id)  # the store exists: accepted
    db.session.commit()


def test_a_translation_needs_its_product(store, tmp_path):
    import_file(store, write(tmp_path, "feed.csv", FEED))
    product_id = db.session.scalar(select(func.max(MarketplaceProduct.id)))
    with pytest.raises(IntegrityError):
        db.session.execute(
            text(
                "INSERT INTO marketplace_product_translations "
                "(marketplace_product_id, language, title, content_hash) "
                "VALUES (:id, 'de', 'Stuhl', 0)"
            ),
            {"id": product_id + 1000},
        )
        db.session.flush()
    db.session.rollback()
    with pytest.raises(IntegrityError):
        db.session.execute(
            text(
                "UPDATE marketplace_product_translations SET marketplace_product_id = :id "
                "WHERE marketplace_product_id = :old"
            ),
            {"id": product_id + 1000, "old": product_id},
        )
        db.session.flush()
    db.session.rollback()


def test_deleting_a_store_or_a_product_deletes_what_hangs_off_it(store, other_store, tmp_path):
    feed = write(tmp_path, "feed.csv", FEED)
    import_file(store, feed)
    import_file(other_store, feed)
    first = db.session.scalar(
        select(MarketplaceProduct).where(MarketplaceProduct.store_id == store.id).limit(1)
    )
    db.session.add(Product(store_id=store.id, marketplace_product_id=first.id))
    db.session.commit()

    def translations(store: Store) -> int:
        return db.session.scalar(
            select(func.count())
            .select_from(MarketplaceProductTranslation)
            .join(MarketplaceProduct)
            .where(MarketplaceProduct.store_id == store.id)
        )

    db.session.execute(text("DELETE FROM marketplace_products WHERE id = :id"), {"id": first.id})
    db.session.commit()
    assert translations(store) == 1
    assert db.session.scalar(select(func.count()).select_from(Product)) == 0
    orphans = text(
        "SELECT count(*) FROM marketplace_product_translations t WHERE NOT EXISTS "
        "(SELECT 1 FROM marketplace_products p WHERE p.id = t.marketplace_product_id)"
    )
    assert db.session.scalar(orphans) == 0

    other_id = other_store.id
    db.session.execute(text("DELETE FROM stores WHERE id = :id"), {"id": store.id})
    db.session.commit()
    assert db.session.scalar(orphans) == 0
    left = db.session.scalars(select(MarketplaceProduct.store_id)).all()
    assert left == [other_id, other_id]


def test_emptying_products_takes_their_translations(store, backend, tmp_path):
    # PostgreSQL's TRUNCATE fires no delete trigger (migration 0010 adds a truncate one);
    # SQLite has no TRUNCATE: its unqualified DELETE, through the foreign key.
    import_file(store, write(tmp_path, "feed.csv", FEED))
    empty = (
        "TRUNCATE marketplace_products CASCADE"
        if backend == "postgresql"
        else ("DELETE FROM marketplace_products")
    )
    db.session.execute(text(empty))
    db.session.commit()
    assert db.session.scalar(select(func.count()).select_from(MarketplaceProductTranslation)) == 0
    if backend == "postgresql":  # both at once (as an operator or a test harness would)
        import_file(store, write(tmp_path, "feed.csv", FEED))
        db.session.execute(
            text("TRUNCATE marketplace_products, marketplace_product_translations CASCADE")
        )
        db.session.execute(text("TRUNCATE stores CASCADE"))
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(MarketplaceProduct)) == 0


def _translations(rows: list[tuple[int, str]]) -> None:
    """One INSERT statement of translations (product id, language)."""
    table = MarketplaceProductTranslation.__table__
    db.session.execute(
        insert(table).values(
            [
                dict(marketplace_product_id=pid, language=language, title="T", content_hash=0)
                for pid, language in rows
            ]
        )
    )
    db.session.flush()


@pytest.mark.parametrize("revision", ["head", "0011_order_payloads"])
def test_a_statements_translations_need_every_product_with_or_without_gaps(
    store, tmp_path, revision
):
    """Migration 0012 counts the range of a statement's products instead of probing each;
    a range with a gap falls back to the probes, which name the missing product (and
    0011's probes, after a downgrade, still do)."""
    from flask_migrate import downgrade, upgrade

    feed = "id,title,price\n" + "".join(f"A{i},Chair {i},10.00 EUR\n" for i in range(30))
    import_file(store, write(tmp_path, "feed.csv", feed))
    ids = sorted(db.session.scalars(select(MarketplaceProduct.id)))
    db.session.commit()
    if revision != "head":
        downgrade(revision=revision)
    try:
        _translations([(pid, "de") for pid in ids])  # consecutive ids: one range, accepted
        _translations([(ids[0], "fr"), (ids[-1], "fr")])  # both ends only: accepted
        db.session.commit()
        with pytest.raises(IntegrityError, match=str(ids[-1] + 1000)):
            _translations([(ids[0], "it"), (ids[-1] + 1000, "it")])  # a gap, one missing
        db.session.rollback()
        with pytest.raises(IntegrityError, match=str(ids[-1] + 1)):
            _translations([(ids[-1], "nl"), (ids[-1] + 1, "nl")])  # right after the range
        db.session.rollback()
    finally:
        db.session.rollback()
        if revision != "head":
            upgrade()
    counts = db.session.execute(
        select(MarketplaceProductTranslation.language, func.count())
        .group_by(MarketplaceProductTranslation.language)
        .order_by(MarketplaceProductTranslation.language)
    ).all()
    assert counts == [("de", 30), ("en", 30), ("fr", 2)]
