"""Starting a feed's execution over the API: the lifecycle's start, as Run now and the CLI."""

from __future__ import annotations

from tests.api.conftest import make_person
from tests.feeds.conftest import feed_of, fresh, not_built_feed, runs_of, work
from webapp.extensions import db
from webapp.models import Run
from webapp.models import runs as R
from webapp.runs import lifecycle


def start(person, feed_id: int, **kwargs):
    return person.api.post(f"/store/feeds/{feed_id}/executions", **kwargs)


def test_the_api_starts_an_execution_of_the_feed(app, store, account):
    shop = make_person(app, "api@acme.test", store=store)
    feed = feed_of(account, "import_orders")
    response = start(shop, feed.id)
    assert response.status_code == 202
    job_id = response.get_json()["job_id"]
    run = fresh(Run, job_id)
    assert (run.feed_id, run.trigger, run.status, run.user_id) == (
        feed.id,
        "api",
        R.PENDING,
        shop.user.id,
    )
    assert run.rq_job_id == f"mercato-run-{run.id}"
    work(app)
    assert fresh(Run, job_id).status in (R.COMPLETED, R.COMPLETED_WITH_ERRORS)
    assert start(shop, feed.id, json={}).status_code == 202  # an empty body is no body


def test_a_running_feed_is_409_in_the_words_of_every_path(app, store, account):
    shop = make_person(app, "api@acme.test", store=store)
    feed = feed_of(account, "import_orders")
    running = lifecycle.start_feed(feed, "run_now").run
    response = start(shop, feed.id)
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["message"] == lifecycle.already_running(running)
    assert error["job_id"] == running.id
    assert [r.id for r in runs_of(feed.id)] == [running.id]


def test_what_cannot_start_is_refused_and_starts_nothing(app, store, other_store, account):
    rival = make_person(app, "rival@other.test", store=other_store)
    feed = feed_of(account, "import_orders")
    assert start(rival, feed.id).status_code == 404  # another store's feed: no feed
    assert start(rival, 10**6).status_code == 404
    shop = make_person(app, "api@acme.test", store=store)
    assert start(shop, feed.id, json={"force": True}).status_code == 422  # it takes no field
    assert start(shop, feed.id, data="{", content_type="application/json").status_code == 400
    not_built = not_built_feed(account)
    refused = start(shop, not_built.id)
    assert refused.status_code == 422 and "not built" in refused.get_json()["error"]["message"]
    feed.enabled = False
    db.session.commit()
    refused = start(shop, feed.id)
    assert refused.status_code == 422 and "disabled" in refused.get_json()["error"]["message"]
    assert runs_of(feed.id) == [] and runs_of(not_built.id) == []
