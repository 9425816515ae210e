"""The product-import job run by real RQ workers on real Redis: in process, and as the
``python -m jobs.worker`` process that production runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rq.job import Job, JobStatus

from tests.imports.helpers import import_file, product_count, products, write
from tests.inprocess_worker import InProcessWorker
from webapp.extensions import db, queue
from webapp.imports.service import create_run, enqueue, execute
from webapp.models import Run
from webapp.models import runs as R

ROOT = Path(__file__).resolve().parent.parent.parent
FEED = "id,title,price\nJ1,Job chair,10\nJ2,Job table,20\nJ3,,5\n"


def work_imports(app) -> bool:
    """Drain the imports queue with an in-process worker, as RQ would."""
    imports = queue("imports")
    worker = InProcessWorker([imports], connection=imports.connection)
    return worker.work(burst=True)


def fresh(run_id: int) -> Run:
    db.session.rollback()  # end our snapshot: the worker wrote through its own session
    db.session.expire_all()
    return db.session.get(Run, run_id)


def rq_job(run: Run) -> Job:
    return Job.fetch(run.rq_job_id, connection=queue("imports").connection)


def test_enqueued_run_is_executed_by_an_rq_worker(app, store, tmp_path):
    run = create_run(store, source_path=str(write(tmp_path, "feed.csv", FEED)), trigger="ui")
    enqueue(run)
    run_id, job_id = run.id, run.rq_job_id
    assert job_id
    assert fresh(run_id).status == R.PENDING  # nothing ran yet: it waits for a worker
    assert queue("imports").job_ids == [job_id]

    assert work_imports(app)

    done = fresh(run_id)
    assert done.status == R.COMPLETED_WITH_ERRORS, done.error_message
    assert (done.imported_count, done.error_count, done.total_processed) == (2, 1, 3)
    assert done.rq_job_id == job_id
    job = rq_job(done)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == done.summary()
    assert job.func_name == "jobs.runs.execute_run" and job.args == (run_id,)
    assert queue("imports").count == 0
    assert set(products(store)) == {"J1", "J2"}


def test_the_worker_process_executes_the_run(app, store, tmp_path):
    """``python -m jobs.worker --burst`` in a subprocess, configured only by the environment."""
    run = enqueue(create_run(store, source_path=str(write(tmp_path, "feed.csv", FEED))))
    run_id = run.id
    db.session.rollback()
    cfg = app.config
    env = {
        **os.environ,
        "MERCATO_ENV": "test",
        "DATABASE_URL": cfg["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": cfg["REDIS_URL"],
        "MERCATO_WORK_DIR": cfg["MERCATO_WORK_DIR"],
        "SECRET_KEY": cfg["SECRET_KEY"],
        "MERCATO_ENCRYPTION_KEYS": ",".join(cfg["MERCATO_ENCRYPTION_KEYS"]),
        "MERCATO_QUEUE_PREFIX": cfg["MERCATO_QUEUE_PREFIX"],
        "MERCATO_LOG_LEVEL": "WARNING",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "jobs.worker", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]

    done = fresh(run_id)
    assert done.status == R.COMPLETED_WITH_ERRORS, (done.error_message, proc.stderr[-3000:])
    assert (done.imported_count, done.error_count, done.total_processed) == (2, 1, 3)
    job = rq_job(done)
    assert job.get_status() == JobStatus.FINISHED
    assert job.return_value() == done.summary()
    assert set(products(store)) == {"J1", "J2"}


def test_a_finished_run_is_not_executed_again(app, store, tmp_path):
    path = write(tmp_path, "feed.csv", FEED)
    run = import_file(store, path)
    first = (run.status, run.summary(), run.completed_at)
    before = {k: (p.price, p.updated_at) for k, p in products(store).items()}
    # The source changes after the run finished: a re-execution would pick that up.
    write(tmp_path, "feed.csv", FEED.replace("J1,Job chair,10", "J1,Changed,99") + "J9,New,1\n")

    enqueue(run)
    assert work_imports(app)

    again = fresh(run.id)
    assert (again.status, again.summary(), again.completed_at) == first
    assert rq_job(again).return_value() == first[1]
    assert {k: (p.price, p.updated_at) for k, p in products(store).items()} == before
    assert execute(run.id).summary() == first[1]  # inline too
    assert product_count() == 2


def test_a_crashed_run_is_finished_by_imports_retry(app, store, tmp_path):
    rows = "".join(f"K{i},Item {i},{i}\n" for i in range(500))
    path = write(tmp_path, "k.csv", "id,title,price\n" + rows)
    run = create_run(store, source_path=str(path), batch_size=100)
    run_id = run.id
    # A worker killed after two batches: those rows exist, the run still says processing.
    partial = "".join(f"K{i},Item {i},{i}\n" for i in range(200))
    import_file(store, write(tmp_path, "partial.csv", "id,title,price\n" + partial))
    run.status, run.phase, run.imported_count = R.PROCESSING, "upserting", 200
    db.session.commit()

    runner = app.test_cli_runner()
    result = runner.invoke(args=["imports", "retry", str(run_id)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary == {
        "job_id": run_id,
        "status": "completed",
        "imported": 300,
        "updated": 0,
        "unchanged": 200,
        "errors": 0,
        "warnings": 0,
        "total": 500,
    }
    done = fresh(run_id)
    assert done.summary() == summary and done.progress == 100 and done.completed_at
    assert product_count() == 500

    refused = runner.invoke(args=["imports", "retry", str(run_id)])
    assert refused.exit_code != 0 and "already finished" in refused.output
    missing = runner.invoke(args=["imports", "retry", "999999"])
    assert missing.exit_code != 0 and "No import job 999999" in missing.output


@pytest.mark.parametrize("status", [R.PENDING, R.FAILED])
def test_retry_also_runs_pending_and_failed_runs(app, store, tmp_path, status):
    run = create_run(store, source_path=str(write(tmp_path, "feed.csv", FEED)))
    run.status = status
    run.error_message = "earlier failure" if status == R.FAILED else None
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["imports", "retry", str(run.id)])
    assert result.exit_code == 0, result.output
    done = fresh(run.id)
    assert done.status == R.COMPLETED_WITH_ERRORS and done.error_message is None
    assert json.loads(result.stdout.splitlines()[-1]) == done.summary()
