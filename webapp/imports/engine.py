"""Run one product import: read the source, build rows, write batches, record the run.

The run row is the single source of truth a page reads: status, phase,
progress and counts are committed with every batch, so a page polling the run
sees it move, and a worker killed mid-import leaves a run that can simply be
executed again (unchanged rows are recognised, nothing is duplicated).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import delete, insert

from webapp.extensions import db
from webapp.imports.mapping import map_columns
from webapp.imports.reader import (
    SAMPLE_BYTES,
    DelimitedReader,
    FeedError,
    iter_json,
    iter_xml,
    sniff_format,
    text_stream,
)
from webapp.imports.rows import DictRecords, PendingRow, Rejected, RowBuilder, RowMessage
from webapp.imports.sources import open_feed
from webapp.imports.writer import BatchWriter
from webapp.models import runs as R
from webapp.models.base import utcnow

log = logging.getLogger("mercato.imports")

MAX_MESSAGES_PER_RUN = 100_000  # beyond this, errors are still counted but not stored


class ImportAborted(Exception):
    """The run cannot go on (source unreadable, fetch refused): it fails with this message."""


def _records(factory, fmt: str) -> tuple[list[str] | None, Iterator]:
    """(header or None, iterator of (row_number, cells|None, error, raw)) for a format."""
    if fmt == "delimited":
        sample = factory().read(SAMPLE_BYTES)
        reader = DelimitedReader(text_stream(factory(), sample))
        header = reader.start()
        cmap = map_columns(header)
        if not cmap.has_id:
            raise FeedError(
                "No product id column found. Columns seen: "
                + ", ".join(repr(h) for h in header[:30])
                + ". Name one of them id, sku, ID_PRODUCT or g:id."
            )
        return header, ((r.row_number, r.cells, r.error, r.raw) for r in reader)
    if fmt == "xml":
        return None, ((row, fields, None, None) for row, fields in iter_xml(factory()))
    sample = factory().read(SAMPLE_BYTES)
    return None, (
        (row, fields, None, None) for row, fields in iter_json(text_stream(factory(), sample))
    )


class ImportRunner:
    """Executes one :class:`~webapp.models.Run` of kind ``product_import``."""

    def __init__(self, run: R.Run, path: str | Path):
        self.run = run
        self.path = Path(path)
        self.seen: set[int] = set()
        self.pending_rows: list[PendingRow] = []
        self.builder: RowBuilder | None = None
        self.writer: BatchWriter | None = None
        self.pending_messages: list[dict] = []
        self.stored_messages = 0
        self.records_in_batch = 0
        self.wrote_any = False
        # Counted here, copied onto the run once per batch (ORM attribute writes are slow).
        self.total = 0
        self.errors = 0
        self.warnings = 0

    # -- driving --------------------------------------------------------------------------

    def execute(self) -> R.Run:
        run = self.run
        started = time.monotonic()
        with open_feed(self.path) as (factory, progress):
            sample = factory().read(SAMPLE_BYTES)
            fmt = sniff_format(sample)
            run.phase = "parsing"
            db.session.commit()
            header, records = _records(factory, fmt)
            if header is not None:
                builder = RowBuilder(map_columns(header))
                dict_records = None
            else:
                builder = None
                dict_records = DictRecords()
            run.phase = "upserting"
            db.session.commit()
            try:
                for row_number, cells, error, raw in records:
                    if dict_records is not None:
                        cells, grew = dict_records.cells(cells)
                        if grew or builder is None:
                            self._flush(progress())  # pending rows were read with the old map
                            builder = RowBuilder(
                                map_columns(dict_records.headers), fixed_width=False
                            )
                            if not builder.cmap.has_id:
                                raise FeedError(
                                    "No product id field found in the feed's products. "
                                    "Fields seen: " + ", ".join(dict_records.headers[:30])
                                )
                    self.builder = builder
                    self._take(builder, row_number, cells, error, raw)
                    if self.records_in_batch >= run.batch_size:
                        self._flush(progress())
            except FeedError as exc:
                if not self.wrote_any and not self.pending_rows:
                    raise
                self._message(None, None, "error", "parse_error", str(exc), None)
                self.errors += 1
                self.total += 1
            self._flush(1.0)
        run.status = R.COMPLETED_WITH_ERRORS if run.error_count else R.COMPLETED
        run.phase = None
        run.completed_at = utcnow()
        db.session.commit()
        log.info(
            "job=import_feed run_id=%s state=%s rows=%s imported=%s updated=%s unchanged=%s "
            "errors=%s warnings=%s seconds=%.1f",
            run.id,
            run.status,
            run.total_processed,
            run.imported_count,
            run.updated_count,
            run.unchanged_count,
            run.error_count,
            run.warning_count,
            time.monotonic() - started,
        )
        return run

    def _take(self, builder: RowBuilder, row_number: int, cells, error, raw) -> None:
        if error is not None:
            self._count_error(
                row_number,
                None,
                RowMessage("error", "parse_error", error),
                {"raw": (raw or "")[:2000]},
            )
            return
        if not cells or not "".join(cells).strip():
            return  # blank line: a spreadsheet shows it, nobody means it as a product
        got = builder.identify(row_number, cells)
        if type(got) is Rejected:
            if got.skipped:
                return
            self.records_in_batch += 1
            self.total += 1
            for message in got.messages:
                self._count_error(
                    row_number, got.identifier, message, builder.row_data(cells), counted=True
                )
            return
        self.records_in_batch += 1
        self.total += 1
        key = hash(got.identifier)
        if key in self.seen:
            self._count_error(
                row_number,
                got.identifier,
                RowMessage(
                    "error",
                    "duplicate_id",
                    f"product id {got.identifier!r} appears again; the first row wins",
                ),
                builder.row_data(cells),
                counted=True,
            )
            return
        self.seen.add(key)
        self.pending_rows.append(got)

    def _count_error(
        self, row_number, identifier, message: RowMessage, data, counted: bool = False
    ) -> None:
        if not counted:
            self.records_in_batch += 1
            self.total += 1
        self.errors += 1
        self._message(row_number, identifier, "error", message.error_type, message.message, data)

    def _message(self, row_number, identifier, severity, error_type, text, data) -> None:
        if self.stored_messages >= MAX_MESSAGES_PER_RUN:
            return
        self.stored_messages += 1
        self.pending_messages.append(
            {
                "import_job_id": self.run.id,
                "severity": severity,
                "error_type": error_type,
                "row_number": row_number,
                "identifier": (identifier or None) and identifier[:255],
                "error_message": f"Row {row_number}: {text}" if row_number else text,
                "row_data": data,
                "created_at": utcnow(),
            }
        )

    def _writer(self) -> BatchWriter:
        conn = db.session.connection()
        run = self.run
        if self.writer is None:
            self.writer = BatchWriter(
                conn.connection.driver_connection,
                conn.dialect.name,
                store_id=run.store_id,
                marketplace=run.marketplace,
                language=run.language,
                run_id=run.id,
            )
        else:  # the session hands out a pooled connection per transaction
            self.writer.conn = conn.connection.driver_connection
        return self.writer

    def _write_pending(self) -> None:
        """Look the batch up, normalise only what is new or changed, write it."""
        run, builder, writer = self.run, self.builder, self._writer()
        existing = writer.lookup([p.identifier for p in self.pending_rows])
        new, changed, translations = [], [], []
        for pending in self.pending_rows:
            found = existing.get(pending.identifier)
            if found is not None and found.content_hash == pending.content_hash:
                if found.translation_hash == pending.translation_hash:
                    run.unchanged_count += 1
                else:
                    translations.append(
                        (found.id, pending.title, pending.description, pending.translation_hash)
                    )
                    run.updated_count += 1
                if found.warnings:
                    self._warnings(pending, found.warnings)
                continue
            built = builder.normalise(pending)
            if type(built) is Rejected:
                self.errors += 1
                for message in built.messages:
                    self._message(
                        pending.row_number,
                        pending.identifier,
                        "error",
                        message.error_type,
                        message.message,
                        builder.row_data(pending.cells),
                    )
                continue
            if built.warnings:
                self._warnings(pending, built.warnings)
            if found is None:
                new.append(built)
                run.imported_count += 1
                continue
            changed.append((found.id, built))
            if found.translation_hash != pending.translation_hash:
                translations.append(
                    (found.id, pending.title, pending.description, pending.translation_hash)
                )
            run.updated_count += 1
        writer.apply(new, changed, translations, utcnow())
        self.wrote_any = True

    def _warnings(self, pending: PendingRow, stored: str) -> None:
        for error_type, text in json.loads(stored):
            self.warnings += 1
            self._message(
                pending.row_number,
                pending.identifier,
                "warning",
                error_type,
                text,
                self.builder.row_data(pending.cells),
            )

    def _flush(self, fraction: float) -> None:
        run = self.run
        if self.pending_rows:
            self._write_pending()
        if self.pending_messages:
            db.session.execute(insert(R.Message), self.pending_messages)
        run.total_processed = self.total
        run.error_count = self.errors
        run.warning_count = self.warnings
        run.progress = int(fraction * 100) if fraction < 1.0 else 100
        db.session.commit()
        self.pending_rows = []
        self.pending_messages = []
        self.records_in_batch = 0


def reset_for_execution(run: R.Run) -> None:
    """Start (or restart, after a crash) a run from a clean slate."""
    db.session.execute(delete(R.Message).where(R.Message.import_job_id == run.id))
    for name in (
        "imported_count",
        "updated_count",
        "unchanged_count",
        "error_count",
        "warning_count",
        "total_processed",
        "progress",
    ):
        setattr(run, name, 0)
    run.error_message = None
    run.completed_at = None
    run.status = R.PROCESSING
    run.phase = "downloading"
    run.started_at = utcnow()
    db.session.commit()


def fail(run: R.Run, message: str) -> None:
    db.session.rollback()
    run.status = R.FAILED
    run.phase = None
    run.error_message = message
    run.completed_at = utcnow()
    db.session.commit()
    log.info("job=import_feed run_id=%s state=failed reason=%r", run.id, message)
