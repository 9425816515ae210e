"""The admin monitoring page in a real browser: alerts, thresholds, charts, live refresh."""

from __future__ import annotations

from datetime import timedelta

from tests.browser.conftest import login, shot
from webapp.extensions import db


def seed_history(live_server, store_code: str) -> None:
    """A day and a week of order imports: one quiet account, one failing now and then."""
    from webapp.accounts import create_account
    from webapp.models import Feed, Message, Run, Store
    from webapp.models import runs as R
    from webapp.models.base import utcnow

    with live_server.app.app_context():
        store = Store.query.filter_by(code=store_code).one()
        secrets = {"access_token": "a", "secret": "s"}
        busy = create_account(
            store, "lengow", "Lengow Menzzo", settings={"account_id": "5622"}, secrets=secrets
        )
        quiet = create_account(
            store, "lengow", "Lengow Cotecosy", settings={"account_id": "6395"}, secrets=secrets
        )
        now = utcnow()
        feed_of = {f.account_id: f.id for f in Feed.query.filter_by(kind="import_orders").all()}
        runs = []
        for hour in range(0, 24 * 7, 1):
            for slot in range(1 + (hour * 7) % 5):
                failed = (hour + slot) % 9 == 4
                when = now - timedelta(hours=hour, minutes=5 + slot)
                runs.append(
                    Run(
                        kind="order_import",
                        store_id=store.id,
                        account_id=busy.id,
                        feed_id=feed_of[busy.id],
                        trigger="schedule",
                        status=R.FAILED if failed else R.COMPLETED,
                        created_at=when,
                        started_at=when,
                        completed_at=when,
                    )
                )
        when = now - timedelta(minutes=50)
        runs.append(
            Run(
                kind="order_import",
                store_id=store.id,
                account_id=quiet.id,
                feed_id=feed_of[quiet.id],
                status=R.COMPLETED,
                created_at=when,
                completed_at=when,
            )
        )
        db.session.add_all(runs)
        db.session.flush()
        db.session.add_all(
            Message(
                import_job_id=run.id,
                severity=R.ERROR,
                error_type="unknown_sku",
                error_message="SKU not in the catalog",
                created_at=run.created_at,
            )
            for run in runs[::3]
        )
        db.session.commit()
        db.session.remove()


def test_admin_sees_alerts_thresholds_and_charts(page, live_server, users):
    seed_history(live_server, users.store_code)
    live_server.app.config["MERCATO_ADMIN_POLL_SECONDS"] = 2
    login(page, live_server, users.admin_email, users.password)
    page.click("text=Monitoring")
    page.wait_for_selector("#health")
    shot(page, "admin-monitoring")

    alerts = page.locator("[data-alert=gone_quiet]")
    assert alerts.count() == 1
    assert "Lengow Cotecosy" in alerts.inner_text()
    assert page.locator("tr[data-flow=import_orders] .health-late").count() == 1
    assert page.locator("tr[data-flow=import_orders] .health-ok").count() == 1
    assert page.locator(".chart svg").count() == 4
    # Nearly every hour of the week has successes: one bar per hour in the week's chart.
    week = page.locator(".chart").nth(2)
    assert 160 <= week.locator("rect.bar-ok").count() <= 168
    assert week.locator("rect.bar-failed").count() > 0
    # The figures refresh in place (htmx polling), without a reload.
    page.evaluate("document.querySelector('#health').dataset.marker = 'old'")
    page.wait_for_function(  # a function, not an expression: the page's CSP forbids eval
        "() => document.querySelector('#health')"
        " && !document.querySelector('#health').dataset.marker",
        timeout=10_000,
    )
