"""The order page's fulfilment: the forms the marketplace's rules describe, shipping and the
other actions recorded from the page (refusals 422 with every problem, nothing recorded), CSRF,
another store's order, test mode's dry run with its exact request, and the live block's
polling, against orders imported from the sandbox over real HTTP."""

from __future__ import annotations

import html as htmllib
import json
import re

import pytest
import requests
from rq.registry import ScheduledJobRegistry
from sqlalchemy import func, select

from tests.inprocess_worker import InProcessWorker
from tests.orders.helpers import sandbox_counters
from tests.orders.test_acks_and_modes import fresh, lengow
from tests.orders.test_fulfilment import ready, ship_calls
from tests.webapp.conftest import csrf_from, logged_in, make_user
from webapp.extensions import db, queue, redis_connection
from webapp.models import Order, OrderAction, OutboundCall, Run, Shipment
from webapp.models.base import utcnow
from webapp.orders import action_forms, marketplace_rules
from webapp.orders.service import import_orders
from webapp.runs import lifecycle

HX = {"HX-Request": "true"}


@pytest.fixture
def client(app, store):
    make_user("shop@acme.test", store=store)
    return logged_in(app, "shop@acme.test")


def page_url(store, order, suffix=""):
    return f"/store/{store.code}/orders/{order.id}{suffix}"


def recorded() -> tuple[int, int, int]:
    return tuple(
        db.session.scalar(select(func.count()).select_from(m))
        for m in (Shipment, OrderAction, OutboundCall)
    )


def ship_form(client, store, order, **fields):
    page = client.get(page_url(store, order))
    assert page.status_code == 200
    data = {"csrf_token": csrf_from(page.text), **fields}
    return page, data


def test_the_ship_form_follows_the_marketplaces_rules(app, store, sandbox, client):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account)
    forms = action_forms.forms_for(order, account)
    ship = forms.get("ship")
    assert forms.source == "marketplace" and ship.offered
    # The carrier: the marketplace's carriers (and "Other"); this one takes free text too.
    codes = [code for code, _ in ship.carrier.choices]
    assert "Other" in codes and ship.carrier.required and ship.carrier.free
    # The carrier name applies when the carrier is "Other"; shipping_date is an optional date.
    assert ship.carrier_name is not None and "Other" in ship.carrier_name.when
    by_name = {f.name: f for f in ship.fields}
    assert by_name["shipping_date"].kind == "date" and not by_name["shipping_date"].required
    # Refund: the marketplace's reasons as a select, its default prefilled.
    refund = forms.get("refund")
    reason = {f.name: f for f in refund.fields}["refund_reason"]
    assert reason.kind == "select" and not reason.free and reason.default == "ProductOutofStock"
    # Accept is not offered for a confirmed order, and says why.
    accept = forms.get("accept")
    assert accept is not None and not accept.offered and "waiting_acceptance" in accept.why_not
    described = json.loads(json.dumps(forms.as_dict()))  # plain JSON, for the API and CLI
    assert described["actions"][0]["type"] == "ship"
    assert described["actions"][0]["carrier"]["choices"][0] == list(ship.carrier.choices[0])

    page = client.get(page_url(store, order))
    html = page.text
    assert 'id="ship-form"' in html and 'list="ship-carrier-choices"' in html
    for code in codes:
        assert f'<option value="{code}"' in html
    for item in order.items:
        name = action_forms.line_field(item)
        assert re.search(rf'name="{name}" value="{item.quantity}"', html)
    assert 'name="arg__shipping_date"' in html and 'type="date"' in html
    assert 'id="accept-form"' not in html and "Accept (" in html
    assert 'id="dry-run-note"' in html  # test mode says so before anything is recorded


def test_shipping_partially_from_the_page_in_test_mode_is_a_dry_run(app, store, sandbox, client):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account, lines=2)
    marketplace_rules.refresh(account)
    first, *rest = order.items
    carrier = action_forms.forms_for(order, account).get("ship").carrier.choices[0][0]
    _, data = ship_form(client, store, order)
    data.update(carrier=carrier, tracking_number="PG-1", tracking_url="https://t.example/PG-1")
    data[action_forms.line_field(first)] = str(first.quantity)
    for item in rest:
        data[action_forms.line_field(item)] = "0"
    response = client.post(page_url(store, order, "/ship"), data=data)
    assert response.status_code == 302 and response.location.endswith("#fulfilment")
    assert queue("default").count == 0  # test mode: nothing asked of the sender
    fresh()
    [action] = db.session.scalars(select(OrderAction).where(OrderAction.order_id == order.id))
    assert (action.type, action.state, action.created_by) == ("ship", "dry_run", "shop@acme.test")
    assert [line["line_id"] for line in action.lines] == [first.channel_line_id]
    page = client.get(page_url(store, order))
    html = page.text
    assert "recorded as a dry run" in html
    assert f'data-action="{action.id}" data-type="ship" data-state="dry_run"' in html
    block = htmllib.unescape(html[html.index(f'data-action-request="{action.id}"') :])
    assert "POST " in block and "/v3.0/orders/actions/" in block
    assert '"tracking_number": "PG-1"' in block and f'"line": "{first.channel_line_id}"' in block
    assert 'href="https://t.example/PG-1"' in html
    # Not in flight (a dry run is settled): the live block has no trigger.
    live = html[html.index('id="fulfilment-live"') :].split(">", 1)[0]
    assert 'data-in-flight="no"' in live and "hx-trigger" not in live
    # The line's quantities, and what remains to ship is offered next.
    row = html[html.index(f'data-line="{first.channel_line_id}"') :].split("</tr>")[0]
    assert f'<td class="qty-shipped">{first.quantity}</td>' in row
    assert '<td class="qty-remaining"><strong>0</strong></td>' in row
    assert f'name="{action_forms.line_field(first)}"' not in html


def test_a_refused_shipment_shows_every_problem_keeps_the_values_records_nothing(
    app, store, sandbox, client
):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account)
    before = recorded()
    item = order.items[0]
    _, data = ship_form(client, store, order)
    # No carrier, no tracking, too many units, a date that is not one.
    data.update(carrier="", tracking_number="", arg__shipping_date="soon")
    data[action_forms.line_field(item)] = str(item.quantity + 5)
    response = client.post(page_url(store, order, "/ship"), data=data)
    assert response.status_code == 422
    assert 'id="problems-ship"' in response.text
    assert "tracking number or a tracking URL" in response.text
    assert f'value="{item.quantity + 5}"' in response.text  # the values are kept
    # With tracking: the marketplace's own problems, one per argument, all of them.
    data.update(tracking_number="TR-9")
    data[action_forms.line_field(item)] = str(item.quantity)
    response = client.post(page_url(store, order, "/ship"), data=data)
    assert response.status_code == 422
    problems = re.findall(r"<li>(.*?)</li>", response.text.split('id="problems-ship"')[1])
    assert any("carrier is required" in p for p in problems), problems
    assert any("shipping_date must be a date" in p for p in problems), problems
    assert 'value="TR-9"' in response.text and 'value="soon"' in response.text
    assert recorded() == before


def test_ship_form_needs_its_csrf_token_and_another_store_gets_404(
    app, store, other_store, sandbox, client
):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account)
    before = recorded()
    response = client.post(
        page_url(store, order, "/ship"), data={"carrier": "x", "tracking_number": "T"}
    )
    assert response.status_code == 400
    make_user("shop@globex.test", store=other_store)
    other = logged_in(app, "shop@globex.test")
    page = other.get(f"/store/{other_store.code}/orders")
    token = csrf_from(page.text)
    for path in ("", "/fulfilment", "/ship", "/actions"):
        url = f"/store/{other_store.code}/orders/{order.id}{path}"
        if path in ("/ship", "/actions"):
            form = {"csrf_token": token, "tracking_number": "T", "action_type": "cancel"}
            got = other.post(url, data=form)
        else:
            got = other.get(url, headers=HX)
        assert got.status_code == 404, path
        # Their own store's address with our order: 403/404, never the order.
        assert other.get(page_url(store, order)).status_code in (403, 404)
    assert recorded() == before


def test_live_recording_starts_the_shipping_feed_and_the_block_polls_while_in_flight(
    app, store, sandbox, client
):
    account = lengow(app, store, sandbox, live=True)
    import_orders(account)
    order = ready(account)
    feed = lifecycle.account_feed(account, "shipping_confirmation")
    lifecycle.set_enabled(feed, True)
    db.session.commit()
    carrier = action_forms.forms_for(order, account).get("ship").carrier.choices[0][0]
    _, data = ship_form(client, store, order, carrier=carrier, tracking_number="LV-1")
    response = client.post(page_url(store, order, "/ship"), data=data)
    assert response.status_code == 302
    fresh()
    # The account's shipping-confirmation feed was started for a worker: it sends.
    [run] = db.session.scalars(select(Run).where(Run.feed_id == feed.id)).all()
    assert (run.status, run.trigger) == ("pending", "ui")
    work = queue(lifecycle.queue_for(run))
    assert lifecycle.job_id_for(run) in work.job_ids
    [action] = db.session.scalars(select(OrderAction).where(OrderAction.order_id == order.id))
    assert action.state == "recorded"
    partial = client.get(page_url(store, order, "/fulfilment"), headers=HX)
    assert partial.status_code == 200
    head = partial.text.split(">", 1)[0]
    assert 'data-in-flight="yes"' in head and 'hx-trigger="every 2s"' in head
    assert 'data-state="recorded"' in partial.text
    # The worker sends it once; the marketplace holds it queued: still polling, and a
    # follow-up run of the feed is scheduled to read its state back.
    InProcessWorker([work], connection=work.connection).work(burst=True)
    fresh()
    action = db.session.get(OrderAction, action.id)
    assert action.state in ("sent", "queued") and action.sent_at is not None
    assert len(ship_calls(account)) == 1
    follow = f"{lifecycle.job_prefix()}follow-{feed.id}"
    assert follow in ScheduledJobRegistry(queue=queue("default")).get_job_ids()
    head = client.get(page_url(store, order, "/fulfilment"), headers=HX).text.split(">", 1)[0]
    assert 'hx-trigger="every 2s"' in head
    # Settled: no more polling.
    action.state, action.processed_at = "processed", utcnow()
    db.session.commit()
    partial = client.get(page_url(store, order, "/fulfilment"), headers=HX)
    head = partial.text.split(">", 1)[0]
    assert 'data-in-flight="no"' in head and "hx-trigger" not in head
    # Without htmx the partial's address is the page.
    plain = client.get(page_url(store, order, "/fulfilment"))
    assert plain.status_code == 302 and plain.location.endswith(page_url(store, order))


def test_live_with_the_shipping_feed_off_the_sender_sends_and_the_page_says_so(
    app, store, sandbox, client
):
    account = lengow(app, store, sandbox, live=True)
    import_orders(account)
    order = ready(account)
    feed = lifecycle.account_feed(account, "shipping_confirmation")
    assert not feed.enabled  # outbound feeds start off
    carrier = action_forms.forms_for(order, account).get("ship").carrier.choices[0][0]
    _, data = ship_form(client, store, order, carrier=carrier, tracking_number="LV-2")
    assert client.post(page_url(store, order, "/ship"), data=data).status_code == 302
    default = queue("default")
    assert f"{lifecycle.job_prefix()}wake-send_outbound-{account.id}" in default.job_ids
    InProcessWorker([default], connection=default.connection).work(burst=True)
    fresh()
    [action] = db.session.scalars(select(OrderAction).where(OrderAction.order_id == order.id))
    assert action.state == "sent"
    assert len(ship_calls(account)) == 1
    html = client.get(page_url(store, order)).text
    live = html[html.index('id="fulfilment-live"') :].split(">", 1)[0]
    assert "hx-trigger" not in live  # nothing reads the state back: no endless polling
    assert 'id="actions-unfollowed"' in html and "Shipping confirmation" in html


def test_refund_with_the_marketplaces_reason_and_a_bad_reason_refused(app, store, sandbox, client):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account)
    # Ship it first (a dry run), so that it may be refunded.
    carrier = action_forms.forms_for(order, account).get("ship").carrier.choices[0][0]
    _, data = ship_form(client, store, order, carrier=carrier, tracking_number="RF-1")
    assert client.post(page_url(store, order, "/ship"), data=data).status_code == 302
    fresh()
    order = db.session.get(Order, order.id)
    assert order.status == "shipped"
    page = client.get(page_url(store, order))
    assert 'id="refund-form"' in page.text
    assert '<option value="ProductOutofStock" selected>' in page.text
    before = recorded()
    data = {"csrf_token": csrf_from(page.text), "arg__refund_reason": "Whim"}
    response = client.post(
        page_url(store, order, "/actions"), data={**data, "action_type": "refund"}
    )
    assert response.status_code == 422
    assert "refund_reason &#39;Whim&#39; is not allowed" in response.text
    assert recorded() == before
    data["arg__refund_reason"] = "CustomerReturn"
    response = client.post(
        page_url(store, order, "/actions"), data={**data, "action_type": "refund"}
    )
    assert response.status_code == 302
    fresh()
    refund = db.session.scalar(
        select(OrderAction).where(OrderAction.order_id == order.id, OrderAction.type == "refund")
    )
    assert refund.state == "dry_run" and refund.arguments == {"refund_reason": "CustomerReturn"}
    assert db.session.get(Order, order.id).status == "refunded"


def test_accept_on_an_order_awaiting_acceptance_and_the_marketplaces_error_shown(
    app, store, sandbox, client
):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = db.session.scalars(
        select(Order)
        .where(Order.account_id == account.id, Order.status == "awaiting_acceptance")
        .order_by(Order.id)
    ).first()
    assert order is not None, "the sandbox has no order awaiting acceptance"
    forms = action_forms.forms_for(order, account)
    assert forms.get("accept").offered and forms.get("refuse").offered
    assert not forms.get("ship").offered  # Lengow ships only from waiting_shipment
    page = client.get(page_url(store, order))
    assert 'id="accept-form"' in page.text and 'id="refuse-form"' in page.text
    assert 'id="ship-not-offered"' in page.text
    data = {"csrf_token": csrf_from(page.text)}
    response = client.post(
        page_url(store, order, "/actions"), data={**data, "action_type": "accept"}
    )
    assert response.status_code == 302
    fresh()
    [accept] = db.session.scalars(select(OrderAction).where(OrderAction.order_id == order.id))
    assert (accept.type, accept.state) == ("accept", "dry_run")
    assert db.session.get(Order, order.id).status == "confirmed"
    # Twice is refused (422), nothing more recorded.
    page = client.get(page_url(store, order))
    assert 'id="accept-form"' not in page.text  # no longer offered once confirmed
    response = client.post(
        page_url(store, order, "/actions"), data={**data, "action_type": "accept"}
    )
    assert response.status_code == 422 and 'id="problems-accept"' in response.text
    assert "Accept is not offered now" in response.text
    # An action the marketplace refused shows its own text, escaped.
    accept.state, accept.error = "failed", "<b>Order already accepted</b> on the marketplace"
    db.session.commit()
    html = client.get(page_url(store, order)).text
    assert "&lt;b&gt;Order already accepted&lt;/b&gt; on the marketplace" in html
    assert 'data-state="failed"' in html
    # An action type the account's connector cannot send: 404.
    assert (
        client.post(
            page_url(store, order, "/actions"), data={**data, "action_type": "gift_wrap"}
        ).status_code
        == 404
    )


def test_letzshop_gets_its_own_fields_without_marketplace_rules(app, store, sandbox, client):
    from webapp.accounts import create_account

    app.config["MERCATO_OUTBOUND_ALLOW"] = [sandbox.removeprefix("http://")]
    letz = create_account(
        store,
        "letzshop",
        "Letzshop",
        settings={"base_url": f"{sandbox}/graphql"},
        secrets={"api_token": "sandbox-letzshop-token"},
        live=False,
        by="test-suite",
    )
    import_orders(letz)
    order = db.session.scalars(
        select(Order).where(Order.account_id == letz.id, Order.status == "confirmed")
    ).first()
    assert order is not None
    forms = action_forms.forms_for(order, letz)
    assert forms.source == "connector" and forms.marketplace is None
    assert set(forms.actions) == {"ship", "accept", "refuse"}  # what Letzshop can send
    ship = forms.get("ship")
    assert ship.offered and ship.carrier.kind == "text" and ship.fields == []
    html = client.get(page_url(store, order)).text
    assert 'id="ship-form"' in html and 'id="ship-carrier" name="carrier"' in html
    assert "arg__" not in html


def test_cancel_one_line_with_the_marketplaces_reason(app, store, sandbox, client):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account, lines=2)
    first, *rest = order.items
    page = client.get(page_url(store, order))
    assert 'id="cancel-form"' in page.text and 'id="cancel-lines"' in page.text
    data = {"csrf_token": csrf_from(page.text), "arg__reason": "NoInventory"}
    data[action_forms.line_field(first)] = str(first.quantity)
    for item in rest:
        data[action_forms.line_field(item)] = ""
    response = client.post(
        page_url(store, order, "/actions"), data={**data, "action_type": "cancel"}
    )
    assert response.status_code == 302, response.text
    fresh()
    [cancel] = db.session.scalars(select(OrderAction).where(OrderAction.order_id == order.id))
    assert (cancel.type, cancel.state, cancel.arguments) == (
        "cancel",
        "dry_run",
        {"reason": "NoInventory"},
    )
    assert [line["line_id"] for line in cancel.lines] == [first.channel_line_id]
    order = db.session.get(Order, order.id)
    assert order.status == "confirmed"  # other lines remain
    html = client.get(page_url(store, order)).text
    row = html[html.index(f'data-line="{first.channel_line_id}"') :].split("</tr>")[0]
    assert f'<td class="qty-cancelled">{first.quantity}</td>' in row
    # The ship form now offers only the other lines.
    assert (
        f'name="{action_forms.line_field(first)}"'
        not in html.split('id="ship-form"')[1].split("</form>")[0]
    )


def test_marketplace_down_the_page_answers_at_once_and_offers_nothing(app, store, sandbox, client):
    account = lengow(app, store, sandbox, live=False)
    import_orders(account)
    order = ready(account)
    assert not redis_connection().exists(marketplace_rules.cache_key(account))
    faults = requests.post(
        f"{sandbox}/_sandbox/faults", json={"server_error": {"every": 1}}, timeout=10
    )
    assert faults.status_code == 200, faults.text
    page = client.get(page_url(store, order))
    assert page.status_code == 200
    assert 'id="rules-note"' in page.text and "could not be read" in page.text
    assert 'id="ship-form"' not in page.text and "rules are unavailable" in page.text
    # Remembered for a minute: the next view does not ask the marketplace again.
    before = sandbox_counters(sandbox)["requests"]
    assert client.get(page_url(store, order)).status_code == 200
    assert sandbox_counters(sandbox)["requests"] == before
    data = {"csrf_token": csrf_from(page.text), "carrier": "UPS", "tracking_number": "D-1"}
    response = client.post(page_url(store, order, "/ship"), data=data)
    assert response.status_code == 422 and "Ship is not offered now" in response.text
    assert recorded()[0] == 0
    # Back up: asked on demand (flask orders rules refresh), the form is back.
    requests.delete(f"{sandbox}/_sandbox/faults", timeout=10)
    marketplace_rules.refresh(account)
    assert 'id="ship-form"' in client.get(page_url(store, order)).text
