"""Two sender processes on PostgreSQL, the same 60 e-mails due: each e-mail arrives once."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest
from sqlalchemy import func, select

from tests.conftest import redis_url
from tests.mail import helpers, send_worker
from webapp.extensions import db
from webapp.mail import queue_mail
from webapp.models import MailMessage
from webapp.models import mail as M

COUNT = 60


def test_two_workers_send_each_message_once(app, backend, store, smtp_server):
    if backend != "postgresql":
        pytest.skip("concurrent senders are asserted on PostgreSQL; SQLite serialises them")
    helpers.add_templates(store.id)
    for n in range(COUNT):
        queue_mail(
            store_id=store.id,
            account_id=None,
            kind=helpers.KIND,
            to=f"c{n}@example.test",
            subject_type="order",
            subject_id=n + 1,
        )
    db.session.commit()
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    workers = [
        ctx.Process(
            target=send_worker.work,
            args=(uri, redis_url(), smtp_server.url, store.id, barrier, out),
        )
        for _ in range(2)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert all(kind == "ok" for kind, _ in results), results
    assert sum(summary["sent"] for _, summary in results) == COUNT
    seen = Counter(m["X-Mercato-Mail"] for m in smtp_server.received)
    assert len(seen) == COUNT and set(seen.values()) == {1}
    db.session.rollback()
    counts = dict(
        db.session.execute(
            select(MailMessage.status, func.count()).group_by(MailMessage.status)
        ).all()
    )
    assert counts == {M.SENT: COUNT}
    assert set(db.session.scalars(select(MailMessage.attempts))) == {1}
