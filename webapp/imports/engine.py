"""Run one product import: read the source, build rows, write batches, record the run.

A run has one database connection of its own.  Each batch - its product rows,
its messages and the run's counts and progress - is one transaction on it, so
a page polling the run sees it move, and a worker killed mid-import leaves a
run that is simply executed again (unchanged rows are recognised, nothing is
duplicated).  Memory stays flat whatever the file size: records stream
through, and the ids already read live in a temporary table, not in Python.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import delete

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

COUNT_FIELDS = (
    "imported_count",
    "updated_count",
    "unchanged_count",
    "error_count",
    "warning_count",
    "total_processed",
    "progress",
)
MAX_MESSAGES_PER_RUN = 100_000  # beyond this, problems are still counted but not stored
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _records(factory, fmt: str) -> tuple[list[str] | None, Iterator]:
    """(header or None, iterator of (row_number, cells|fields, error, raw)) for a format."""
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
        self.run_id = run.id
        self.batch_size = run.batch_size
        self.path = Path(path)
        self.builder: RowBuilder | None = None
        self.writer: BatchWriter | None = None
        self.pending_rows: list[PendingRow] = []
        self.pending_messages: list[tuple] = []
        self.stored_messages = 0
        self.records_in_batch = 0
        self.wrote_any = False
        self.counts = dict.fromkeys(COUNT_FIELDS, 0)

    # -- driving --------------------------------------------------------------------------

    def execute(self) -> R.Run:
        run = self.run
        started = time.monotonic()
        settings = (run.store_id, run.marketplace, run.language)
        raw = db.engine.raw_connection()
        try:
            self.writer = BatchWriter(
                raw.driver_connection,
                db.engine.dialect.name,
                store_id=settings[0],
                marketplace=settings[1],
                language=settings[2],
                run_id=self.run_id,
            )
            self.writer.prepare()
            self._read_all()
            self.writer.finish()
        finally:
            raw.close()
        db.session.expire(run)
        run.status = R.COMPLETED_WITH_ERRORS if run.error_count else R.COMPLETED
        run.phase = None
        run.progress = 100
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

    def _set_phase(self, phase: str) -> None:
        self.run.phase = phase
        db.session.commit()

    def _read_all(self) -> None:
        with open_feed(self.path) as (factory, progress):
            fmt = sniff_format(factory().read(SAMPLE_BYTES))
            self._set_phase("parsing")
            header, records = _records(factory, fmt)
            dict_records = None if header is not None else DictRecords()
            builder = RowBuilder(map_columns(header)) if header is not None else None
            self._set_phase("upserting")
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
                    if self.records_in_batch >= self.batch_size:
                        self._flush(progress())
            except FeedError as exc:
                if not self.wrote_any and not self.pending_rows:
                    raise
                # The rest of the file is unreadable; what was read is kept.
                self._message(None, None, "error", "parse_error", str(exc), None)
                self.counts["error_count"] += 1
                self.counts["total_processed"] += 1
            self._flush(1.0)

    # -- one record -----------------------------------------------------------------------

    def _take(self, builder: RowBuilder, row_number: int, cells, error, raw) -> None:
        counts = self.counts
        if error is not None:
            self.records_in_batch += 1
            counts["total_processed"] += 1
            self._error(
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
            counts["total_processed"] += 1
            for message in got.messages:
                self._error(row_number, got.identifier, message, builder.row_data(cells))
            return
        self.records_in_batch += 1
        counts["total_processed"] += 1
        self.pending_rows.append(got)

    def _error(self, row_number, identifier, message: RowMessage, data) -> None:
        self.counts["error_count"] += 1
        self._message(row_number, identifier, "error", message.error_type, message.message, data)

    def _message(self, row_number, identifier, severity, error_type, text, data) -> None:
        if self.stored_messages >= MAX_MESSAGES_PER_RUN:
            return
        self.stored_messages += 1
        self.pending_messages.append(
            (
                self.run_id,
                severity,
                error_type,
                row_number,
                identifier[:255] if identifier else None,
                f"Row {row_number}: {text}" if row_number else text,
                _to_json(data) if data is not None else None,
                utcnow(),
            )
        )

    # -- one batch ------------------------------------------------------------------------

    def _first_occurrences(self) -> list[PendingRow]:
        """Drop ids read before (earlier in this batch or in an earlier one): first wins."""
        first: dict[int, PendingRow] = {}
        repeats: list[PendingRow] = []
        for pending in self.pending_rows:
            key = hash(pending.identifier)  # stable within this process, as the table is
            if key in first:
                repeats.append(pending)
            else:
                first[key] = pending
        seen_before = self.writer.already_seen(list(first))
        if seen_before:
            repeats.extend(first.pop(key) for key in seen_before)
        for pending in repeats:
            self._error(
                pending.row_number,
                pending.identifier,
                RowMessage(
                    "error",
                    "duplicate_id",
                    f"product id {pending.identifier!r} appears again; the first row wins",
                ),
                self.builder.row_data(pending.cells),
            )
        return list(first.values())

    def _write_pending(self) -> None:
        """Look the batch up, normalise only what is new or changed, write it."""
        counts, builder, writer = self.counts, self.builder, self.writer
        rows = self._first_occurrences()
        existing = writer.lookup([p.identifier for p in rows])
        to_build, targets, translations = [], [], []
        for pending in rows:
            found = existing.get(pending.identifier)
            if found is not None and found.content_hash == pending.content_hash:
                if found.translation_hash == pending.translation_hash:
                    counts["unchanged_count"] += 1
                else:
                    translations.append(
                        (found.id, pending.title, pending.description, pending.translation_hash)
                    )
                    counts["updated_count"] += 1
                if found.warnings:
                    self._warnings(pending, found.warnings)
                continue
            to_build.append(pending)
            targets.append(found)
        new, changed = [], []
        for pending, found, built in zip(
            to_build, targets, builder.normalise(to_build), strict=True
        ):
            if type(built) is Rejected:
                for message in built.messages:
                    self._error(
                        pending.row_number,
                        pending.identifier,
                        message,
                        builder.row_data(pending.cells),
                    )
                continue
            if built.warnings:
                self._warnings(pending, built.warnings)
            if found is None:
                new.append(built)
                continue
            changed.append((found.id, built))
            if found.translation_hash != pending.translation_hash:
                translations.append(
                    (found.id, pending.title, pending.description, pending.translation_hash)
                )
        counts["imported_count"] += len(new)
        counts["updated_count"] += len(changed)
        writer.apply(new, changed, translations, utcnow())
        self.wrote_any = True

    def _warnings(self, pending: PendingRow, stored: str) -> None:
        for error_type, text in json.loads(stored):
            self.counts["warning_count"] += 1
            self._message(
                pending.row_number,
                pending.identifier,
                "warning",
                error_type,
                text,
                self.builder.row_data(pending.cells),
            )

    def _flush(self, fraction: float) -> None:
        if self.pending_rows:
            self._write_pending()
        self.writer.save_messages(self.pending_messages)
        self.counts["progress"] = min(99, int(fraction * 100))
        self.writer.save_counts(self.counts, utcnow())
        self.writer.commit()
        self.pending_rows = []
        self.pending_messages = []
        self.records_in_batch = 0


def reset_for_execution(run: R.Run) -> None:
    """Start (or restart, after a crash) a run from a clean slate."""
    db.session.execute(delete(R.Message).where(R.Message.import_job_id == run.id))
    for name in COUNT_FIELDS:
        setattr(run, name, 0)
    run.error_message = None
    run.completed_at = None
    run.status = R.PROCESSING
    run.phase = "downloading"
    run.started_at = utcnow()
    db.session.commit()


def fail(run: R.Run, message: str) -> None:
    db.session.rollback()
    db.session.expire(run)
    run.status = R.FAILED
    run.phase = None
    run.error_message = message
    run.completed_at = utcnow()
    db.session.commit()
    log.info("job=import_feed run_id=%s state=failed reason=%r", run.id, message)
