"""A store's own product feed: its configured URLs imported by the import engine, one run
per language (the store's default language first), every run linked to the feed."""

from __future__ import annotations

from sqlalchemy import select

from tests.imports.helpers import products
from tests.imports.test_url_sources import Route, server  # noqa: F401 (fixture)
from webapp.extensions import db
from webapp.feeds.defaults import ensure_store_feeds
from webapp.models import Feed, Run
from webapp.models import runs as R
from webapp.runs import lifecycle


def store_feed(store) -> Feed:
    ensure_store_feeds(store)
    db.session.commit()
    feed = db.session.scalar(select(Feed).where(Feed.store_id == store.id))
    feed.enabled = True
    db.session.commit()
    return feed


def test_the_store_feed_imports_each_configured_language(app, store, server):  # noqa: F811
    server.routes["/fr.csv"] = Route(body=b"id,title,price\nP1,Chaise,10\nP2,Table,20\n")
    server.routes["/en.csv"] = Route(body=b"id,title,price\nP1,Chair,10\nP2,,20\n")
    store.default_language = "en"
    store.letzshop_csv_url_fr = server.url("/fr.csv")
    store.letzshop_csv_url_en = server.url("/en.csv")
    feed = store_feed(store)

    run = lifecycle.run_feed(feed.id, "cli").run
    runs = list(db.session.scalars(select(Run).where(Run.feed_id == feed.id).order_by(Run.id)))
    assert [(r.language, r.trigger, r.kind) for r in runs] == [
        ("en", "cli", "product_import"),
        ("fr", "cli", "product_import"),
    ]
    assert run.id == runs[0].id and run.status == R.COMPLETED_WITH_ERRORS  # P2 has no en title
    assert runs[1].status == R.COMPLETED
    assert set(products(store)) == {"P1", "P2"}
    assert products(store)["P1"].translation("fr").title == "Chaise"


def test_no_url_configured_says_so(app, store):
    run = lifecycle.run_feed(store_feed(store).id, "cli").run
    assert run.status == R.COMPLETED and run.total_processed == 0
    assert "No feed URL is configured" in run_messages(run)[0]


def run_messages(run) -> list[str]:
    from webapp.models import Message

    return list(
        db.session.scalars(select(Message.error_message).where(Message.import_job_id == run.id))
    )
