"""Run one product import: read the source, build rows, write batches, record the run.

A run has one database connection of its own.  Each batch - its product rows,
its messages and the run's counts and progress - is one transaction on it, so
a page polling the run sees it move, and a worker killed mid-import leaves a
run that is simply executed again (unchanged rows are recognised, nothing is
duplicated).  Memory stays flat whatever the file size: records stream
through, and "first row wins" needs only the primary keys of the products this
run has read, kept as a compressed bitmap (a few bytes per 1,000 products).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
from flask import current_app
from pyroaring import BitMap
from sqlalchemy import delete

from common.prefetch import prefetch
from webapp.extensions import db
from webapp.imports import columnar
from webapp.imports.mapping import map_columns
from webapp.imports.reader import (
    SAMPLE_BYTES,
    DelimitedReader,
    FeedError,
    iter_json,
    iter_xml,
    load_json,
    sniff_format,
    text_stream,
)
from webapp.imports.rows import ItemFields, PendingRow, Rejected, RowBuilder, RowMessage
from webapp.imports.sources import MAX_UNPACK_RATIO, open_feed
from webapp.imports.writer import BatchWriter, Found, NewRows
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
VACUUM_AFTER_ROWS = 50_000  # products written by one import before it vacuums (PostgreSQL)
MAX_MESSAGES_PER_RUN = 100_000  # beyond this, problems are still counted but not stored
_to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _items(factory, fmt: str, sample: bytes):
    """A function giving the items of an XML or JSON feed from the top, each call anew:
    (row, fields, nested field names, error) each.  A JSON document is read once."""
    if fmt == "xml":
        return lambda: iter_xml(factory())
    collection = load_json(text_stream(factory(), sample))
    return lambda: iter_json(collection)


class _Inline:
    """An executor that runs each task at once, in this thread."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def submit(self, fn, *args):
        future = Future()
        try:
            future.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, as a thread would
            future.set_exception(exc)
        return future


def _first_positions(ids: list[str]) -> tuple[dict[str, int], list[int]]:
    """({id: position of its first row}, positions of repeats) within one block."""
    first: dict[str, int] = {}
    repeats = []
    for k, identifier in enumerate(ids):
        if identifier in first:
            repeats.append(k)
        else:
            first[identifier] = k
    return first, repeats


def _translation(product_id: int, found_ids, k: int) -> tuple:
    return (
        product_id,
        found_ids.titles[k].as_py(),
        found_ids.descriptions[k].as_py(),
        found_ids.translation_hashes[k],
    )


@dataclass(slots=True)
class Prepared:
    """A block identified (and, while a feed brings new products, normalised) ahead of
    its lookup, which the database thread runs after the previous block's write."""

    block: object
    found_ids: object
    first: dict
    repeats: list
    wanted: list  # the ids to look up
    ahead: object  # the block normalised ahead, or None
    encoded: NewRows | None = None  # and encoded for COPY, should every row be new
    lookup: object = None  # the lookup's future, once sent


@dataclass
class BlockPlan:
    build: list[int] = field(default_factory=list)  # rows to normalise (new or changed)
    targets: list = field(default_factory=list)  # their Existing, None for new rows
    translations: list[tuple] = field(default_factory=list)


@dataclass
class BlockWrites:
    """One block's transaction, executed by the database thread."""

    translations: list[tuple]
    now: object
    new: tuple | None = None  # new rows as columns: writer.prepare_new's arguments
    prepared: NewRows | None = None  # or already prepared (PostgreSQL, ids reserved)
    rows: list = field(default_factory=list)  # new rows as ProductRow (Python builder)
    changed: list = field(default_factory=list)
    messages: list = field(default_factory=list)
    counts: dict = field(default_factory=dict)

    def run(self, writer: BatchWriter) -> list[int]:
        ids = []
        if self.prepared is not None:
            ids = writer.insert_new(self.prepared, self.now)
        elif self.new is not None:  # prepared here: this thread would otherwise wait for it
            ids = writer.insert_new(writer.prepare_new(*self.new), self.now)
        ids += writer.apply(self.rows, self.changed, self.translations, self.now)
        writer.save_messages(self.messages)
        writer.save_counts(self.counts, self.now)
        writer.commit()
        return ids


def _delimited_reader(factory, sample: bytes, delimiter: str | None = None) -> DelimitedReader:
    reader = DelimitedReader(text_stream(factory(), sample), delimiter)
    header = reader.start()
    if not map_columns(header).has_id:
        raise FeedError(
            "No product id column found. Columns seen: "
            + ", ".join(repr(h) for h in header[:30])
            + ". Name one of them id, sku, ID_PRODUCT or g:id."
        )
    return reader


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
        # Products this run has read (their primary keys): a later row with the same id is
        # a duplicate.  A roaring bitmap holds a million consecutive keys in ~150 kB.
        self.seen = BitMap()
        # Ids whose first row was refused after it was identified (an unreadable price):
        # never written, so not in ``seen``; their later rows are duplicates all the same.
        self.refused_keys: set[int] = set()

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
                connect_aside=db.engine.raw_connection,
            )
            self.writer.start()
            try:
                self._read_all()
            finally:
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
        # Housekeeping once the run is complete (a page or the API sees it finished; the
        # catalog is written): its time is not the import's.
        self._settle()
        return run

    def _settle(self) -> None:
        """After a large import on PostgreSQL, VACUUM (ANALYZE) the catalog tables.

        Freshly copied rows carry no hint bits and no visibility: the next read of each
        (the next import's lookups) sets them, dirtying every page again, and the planner
        has no statistics.  Measured on 1,000,000 new products: the vacuum took 1.2 s and
        the following re-import went from 29.6 s to 10.8 s.  Autovacuum would get there,
        later; a vacuum that fails (say, a lock timeout) is only logged.
        """
        written = self.counts["imported_count"] + self.counts["updated_count"]
        threshold = current_app.config.get("IMPORT_VACUUM_ROWS", VACUUM_AFTER_ROWS)
        if db.engine.dialect.name != "postgresql" or written < threshold:
            return
        started = time.monotonic()
        try:
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(
                    "VACUUM (ANALYZE) marketplace_products, marketplace_product_translations"
                )
        except Exception:  # noqa: BLE001 - an optimisation; the import itself is done
            log.warning("job=import_feed run_id=%s vacuum failed", self.run_id, exc_info=True)
            return
        log.info(
            "job=import_feed run_id=%s vacuumed rows_written=%s seconds=%.1f",
            self.run_id,
            written,
            time.monotonic() - started,
        )

    def _set_phase(self, phase: str) -> None:
        self.run.phase = phase
        db.session.commit()

    def _read_all(self) -> None:
        cfg = current_app.config
        self._set_phase("parsing")  # (a compressed file is unpacked first)
        with open_feed(
            self.path,
            scratch=Path(cfg["MERCATO_WORK_DIR"]),
            max_bytes=cfg["MERCATO_FETCH_MAX_BYTES"],
            max_ratio=cfg.get("IMPORT_MAX_UNPACK_RATIO", MAX_UNPACK_RATIO),
        ) as (factory, progress):
            sample = factory().read(SAMPLE_BYTES)
            fmt = sniff_format(sample)
            if fmt == "delimited":
                reader = _delimited_reader(factory, sample)
                builder = self._use(RowBuilder(map_columns(reader.header)))
                self._set_phase("upserting")
                reader = self._read_columnar(factory, sample, reader, progress)
                records = ((r.row_number, r.cells, r.error, r.raw) for r in reader or ())
            else:
                builder, records = self._items(_items(factory, fmt, sample))
                self._set_phase("upserting")
            try:
                for row_number, cells, error, raw in records:
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

    def _items(self, items) -> tuple[RowBuilder | None, Iterator]:
        """The builder and the records of an XML or JSON feed (``items()`` reads its items
        from the top).  Every item is surveyed first: the feed's fields are those of all
        its items, each item's mapped on its own (rows.ItemFields)."""
        fields = ItemFields()
        seen = 0
        try:
            for _row, named, nested, _error in items():
                fields.observe(named, nested)
                seen += 1
        except FeedError:
            pass  # the records stop at the same place, and say so
        builder = None
        if seen:
            builder = self._use(RowBuilder(fields.column_map(), fixed_width=False))
            if not builder.cmap.has_id:
                raise FeedError(
                    "No product id field found in the feed's products. "
                    "Fields seen: " + ", ".join(fields.headers[:30])
                )
        records = (
            (row, None, error, None) if error else (row, fields.cells(named, nested), None, None)
            for row, named, nested, error in items()
        )
        return builder, records

    def _use(self, builder: RowBuilder) -> RowBuilder:
        """Read with ``builder``; existing products get only the fields its feed has."""
        if builder is not self.builder:
            self.builder = builder
            self.writer.written = builder.written()
        return builder

    def _read_columnar(self, factory, sample: bytes, reader: DelimitedReader, progress):
        """Read what the columnar path can; the Python reader for the rest (or None)."""
        if not current_app.config.get("IMPORT_COLUMNAR", True) or not columnar.eligible(
            reader, self.builder, sample
        ):
            return reader
        columnar.bound_memory()
        source = columnar.ColumnarReader(
            factory(),
            reader.delimiter,
            reader.header_width,
            self.batch_size,
            current_app.config.get("IMPORT_COLUMNAR_BLOCK_BYTES", columnar.BLOCK_BYTES),
        )
        # Reading the file and pyarrow's parsing release the GIL: in a thread of their
        # own, one block ahead, they overlap the work on the block before (a re-import
        # of 1,000,000 rows spent 3.4 s of its 7.5 s there); one block waits at most.
        self._read_blocks(prefetch(source.blocks(), name="import-read"), progress)
        log.info(
            "job=import_feed run_id=%s columnar_records=%s python_reader_after=%s lookup_ranges=%s "
            "read_thread_cpu_seconds=%.2f",
            self.run_id,
            source.read,
            source.stopped,
            self.writer.sequential,
            source.cpu,
        )
        if not source.stopped:
            return None
        reader = _delimited_reader(factory, sample, reader.delimiter)
        reader.skip(source.read)
        return reader

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
        """The batch without repeats of an id read earlier in the same batch: first wins."""
        first: dict[str, PendingRow] = {}
        for pending in self.pending_rows:
            if pending.identifier in first:
                self._duplicate(pending)
            else:
                first[pending.identifier] = pending
        return list(first.values())

    def _duplicate(self, pending: PendingRow) -> None:
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

    def _write_pending(self) -> None:
        """Look the batch up, normalise only what is new or changed, write it."""
        rows = self._first_occurrences()
        first = {p.identifier: k for k, p in enumerate(rows)}
        wanted = list(first)
        content = [p.content_hash for p in rows]
        translated = [p.translation_hash for p in rows]
        plan = self._plan(
            first,
            wanted,
            self.writer.lookup(wanted, content, translated),
            content,
            translated,
            rows.__getitem__,
            lambda product_id, k: (
                product_id,
                rows[k].title,
                rows[k].description,
                rows[k].translation_hash,
            ),
        )
        self._build_and_write([rows[k] for k in plan.build], plan.targets, plan.translations)

    def _plan(self, first, wanted, found: Found, content, translated, pending_at, translation_at):
        """What to do with the first rows of a batch (``first``: id -> rank), both paths.

        A row whose id an earlier batch read is a duplicate (first wins); an existing
        product whose hashes match is unchanged, or gets its translation only; the rest
        are to normalise and write.  ``pending_at(k)`` gives a row for its messages,
        ``translation_at(product id, k)`` its translation upsert.  ``found`` is what the
        lookup found of the ids ``wanted``.
        """
        skip = None
        if found.same_ranks:
            skip = self._unchanged(first, wanted, found, pending_at)
            if len(skip) == len(first):
                return BlockPlan()
        existing = found.others
        if not existing and not self.refused_keys and skip is None:
            # Nothing of this batch exists yet (a first import): every first row is new.
            build = list(first.values())
            return BlockPlan(build, [None] * len(build))
        counts = self.counts
        seen, refused = self.seen, self.refused_keys
        plan = BlockPlan()
        for identifier, k in first.items():
            if skip is not None and identifier in skip:
                continue
            found = existing.get(identifier)
            if found is None:
                if refused and hash(identifier) in refused:
                    self._duplicate(pending_at(k))
                    continue
                plan.build.append(k)
                plan.targets.append(None)
                continue
            if found.id in seen:
                self._duplicate(pending_at(k))
                continue
            seen.add(found.id)
            if found.content_hash != content[k]:
                plan.build.append(k)
                plan.targets.append(found)
                continue
            if found.translation_hash == translated[k]:
                counts["unchanged_count"] += 1
            else:
                plan.translations.append(translation_at(found.id, k))
                counts["updated_count"] += 1
            if found.warnings:
                self._warnings(pending_at(k), found.warnings)
        return plan

    def _unchanged(self, first, wanted, found: Found, pending_at) -> set[str]:
        """Count the products a lookup found stored exactly as read (a product that an
        earlier batch read too is a duplicate); their ids."""
        same = BitMap(found.same_ids)
        again = same & self.seen
        self.seen |= same
        self.counts["unchanged_count"] += len(same) - len(again)
        ids = [wanted[rank] for rank in found.same_ranks]
        if again:
            for identifier, pk in zip(ids, found.same_ids, strict=True):
                if pk in again:
                    self._duplicate(pending_at(first[identifier]))
        return set(ids)

    def _build_and_write(self, to_build: list[PendingRow], targets: list, translations: list):
        """Normalise new and changed rows (Python builder) and write the batch."""
        new, changed = self._build(to_build, targets, translations)
        self.seen.update(self.writer.apply(new, changed, translations, utcnow()))
        self.wrote_any = True

    def _build(self, to_build: list[PendingRow], targets: list, translations: list):
        """(new rows, changed (id, row)) of a batch, normalised by the Python builder; the
        rows whose translation changed are added to ``translations``."""
        built = self.builder.normalise(to_build)
        refused = {j: b for j, b in enumerate(built) if type(b) is Rejected}
        warned = {j: b.warnings for j, b in enumerate(built) if type(b) is not Rejected}
        new_at, changed_at = self._sort(
            targets,
            refused,
            {j: w for j, w in warned.items() if w},
            to_build.__getitem__,
            lambda product_id, j: (
                product_id,
                to_build[j].title,
                to_build[j].description,
                to_build[j].translation_hash,
            ),
            translations,
        )
        new = [built[j] for j in new_at]
        changed = [(targets[j].id, built[j]) for j in changed_at]
        self.counts["imported_count"] += len(new)
        self.counts["updated_count"] += len(changed)
        return new, changed

    def _sort(self, targets, refused, warned, pending_at, translation_at, translations):
        """(new, changed) positions of a normalised batch, both paths.  A refused row is
        an error (and its id, if new, a duplicate from now on); a warned one is imported
        with its warnings; a changed row whose translation changed adds its upsert to
        ``translations``."""
        new_at, changed_at = [], []
        for j, found in enumerate(targets):
            rejected = refused.get(j)
            if rejected is not None:
                pending = pending_at(j)
                if found is None:
                    self.refused_keys.add(hash(pending.identifier))
                data = self.builder.row_data(pending.cells)
                for message in rejected.messages:
                    self._error(pending.row_number, pending.identifier, message, data)
                continue
            if j in warned:
                self._warnings(pending_at(j), warned[j])
            if found is None:
                new_at.append(j)
                continue
            changed_at.append(j)
            translation = translation_at(found.id, j)
            if found.translation_hash != translation[3]:
                translations.append(translation)
        return new_at, changed_at

    def _warnings(self, pending: PendingRow, stored: str) -> None:
        data = self.builder.row_data(pending.cells)
        for error_type, text in json.loads(stored):
            self.counts["warning_count"] += 1
            self._message(pending.row_number, pending.identifier, "warning", error_type, text, data)

    # -- the columnar path ----------------------------------------------------------------

    def _read_blocks(self, blocks, progress) -> None:
        """Import clean blocks, the database work of one overlapping the next one's parsing.

        The run's connection belongs to one worker thread, which executes in order each
        block's writes, messages, counts and commit (one transaction, as on the Python
        path), then the next block's lookup.  Meanwhile this thread identifies and hashes
        the block after that and, while a feed brings mostly new products, normalises it
        before its lookup is even sent.  pyarrow, psycopg and sqlite3 release the GIL
        while they work, so on two cores parsing and the database overlap.
        """
        writer, builder = self.writer, self.builder
        blocks = iter(blocks)
        speculate = columnar.can_normalise(builder)
        written = None  # the previous block's write: its new product ids

        # A first import (the store has no product of this marketplace, and this run holds
        # the marketplace's lock) need only look up ids that this run may have read
        # before (a repeat), which a bounded filter tells.
        fresh = writer.claim_fresh()
        # New rows are encoded for COPY here, with ids taken on a connection of their own
        # (a sequence is not transactional): this thread never waits for the database
        # thread's, and that one only sends (PostgreSQL).
        ids_aside = columnar.can_normalise(builder) and writer.open_aside()
        ids_read = columnar.IdsRead()

        def prepare(block) -> Prepared:
            found_ids = columnar.identify(block, builder)
            first, repeats = _first_positions(found_ids.ids)
            wanted = list(first)
            if fresh:
                wanted = ids_read.again(wanted)
            ahead = encoded = None
            if speculate and found_ids.ids:
                ahead = columnar.normalise(
                    columnar.take(block.columns, found_ids.positions), builder, found_ids.ids
                )
                n = len(found_ids.ids)
                clean = not ahead.refused and not ahead.warnings and not repeats
                if fresh and ids_aside and clean:
                    # Encoded now, while the database thread writes the block before,
                    # in case every row is new - as in a first import.
                    encoded = writer.prepare_new(
                        found_ids.ids,
                        ahead.neutral,
                        found_ids.content_hashes,
                        [None] * n,
                        found_ids.titles,
                        found_ids.descriptions,
                        found_ids.translation_hashes,
                        reserved=writer.reserve_aside(n),
                    )
            return Prepared(block, found_ids, first, repeats, wanted, ahead, encoded)

        def look_up(prepared: Prepared) -> None:
            found_ids, first, wanted = prepared.found_ids, prepared.first, prepared.wanted
            if len(wanted) == len(found_ids.ids):  # every row, none repeated: in order
                hashes, translated = found_ids.content_hashes, found_ids.translation_hashes
            else:
                hashes = [found_ids.content_hashes[first[i]] for i in wanted]
                translated = [found_ids.translation_hashes[first[i]] for i in wanted]
            prepared.lookup = db_thread.submit(timed, writer.lookup, wanted, hashes, translated)

        threaded = current_app.config.get("IMPORT_DB_THREAD", True)
        main_cpu = time.thread_time()
        db_cpu = [0.0]
        main_wait = [0.0]

        read_wait = [0.0]

        def next_block():
            waited = time.perf_counter()
            try:
                return next(blocks, None)
            finally:
                read_wait[0] += time.perf_counter() - waited

        def timed(fn, *args):
            started = time.thread_time()
            try:
                return fn(*args)
            finally:
                db_cpu[0] += time.thread_time() - started

        with (
            ThreadPoolExecutor(1, thread_name_prefix="import-db") if threaded else _Inline()
        ) as db_thread:
            # The database thread works in order: lookup of block 1, write of block 1,
            # lookup of block 2...; each lookup is sent as soon as the write before it.
            # While a block waits for its lookup (a re-import: the lookups are the
            # database's work), this thread identifies the next one; while the writes
            # are (new products, normalised ahead), it prepares the next one after
            # sending the write - one block less in memory.
            current = next_block()
            current = prepare(current) if current is not None else None
            if current is not None:
                look_up(current)
            following = None
            while current is not None:
                if current.ahead is None:
                    following = next_block()
                    following = prepare(following) if following is not None else None
                block, found_ids, first = current.block, current.found_ids, current.first
                waited = time.perf_counter()
                existing = current.lookup.result()
                main_wait[0] += time.perf_counter() - waited
                if written is not None:
                    self.seen.update(written.result())
                for i in found_ids.refused:
                    self._take(builder, block.first_row + i, block.cells(i), None, None)
                self.records_in_batch += len(found_ids.ids)
                self.counts["total_processed"] += len(found_ids.ids)
                plan = self._plan_block(
                    block, found_ids, first, current.repeats, current.wanted, existing
                )
                task = self._block_writes(block, found_ids, plan, current.ahead)
                # (task.new holds the block's own id list when every row is new.)
                if task.new is not None and current.encoded and task.new[0] is found_ids.ids:
                    task.prepared, task.new = current.encoded, None
                elif task.new is not None and ids_aside:
                    reserved = writer.reserve_aside(len(task.new[0]))
                    task.prepared = writer.prepare_new(*task.new, reserved=reserved)
                    task.new = None  # its columns need not live until the write is done
                task.messages, self.pending_messages = self.pending_messages, []
                self.counts["progress"] = min(99, int(progress() * 100))
                task.counts = dict(self.counts)
                self.records_in_batch = 0
                self.wrote_any = True
                written = db_thread.submit(timed, task.run, writer)
                speculate = columnar.can_normalise(builder) and len(plan.build) * 2 > len(first)
                one_ahead = current.ahead is not None
                # This block's columns are the database thread's now (task): let go of the
                # rest before the next block is read into memory.
                del current, task, plan, existing, block, found_ids, first
                if one_ahead:
                    following = next_block()
                    following = prepare(following) if following is not None else None
                if following is not None:
                    look_up(following)  # after this block's write: it sees its products
                current, following = following, None
            if written is not None:
                self.seen.update(written.result())
        # Where the time goes: on two idle cores an import takes about the larger of the two.
        log.info(
            "job=import_feed run_id=%s columnar_cpu_seconds parse=%.2f database_thread=%.2f "
            "parse_waited=%.2f read_waited=%.2f",
            self.run_id,
            time.thread_time() - main_cpu - (0 if threaded else db_cpu[0]),
            db_cpu[0],
            main_wait[0],
            read_wait[0],
        )

    def _block_pending(self, block: columnar.Block, found_ids, k: int) -> PendingRow:
        """Row ``k`` of a block as the Python path holds it, for its messages."""
        pos = found_ids.positions[k]
        return PendingRow(block.first_row + pos, found_ids.ids[k], block.cells(pos), 0, 0, "", None)

    def _plan_block(self, block, found_ids, first: dict, repeats: list[int], wanted, found):
        """Duplicates, unchanged rows and translation-only changes of a block; the rows to
        normalise and write."""
        for k in repeats:
            self._duplicate(self._block_pending(block, found_ids, k))
        return self._plan(
            first,
            wanted,
            found,
            found_ids.content_hashes,
            found_ids.translation_hashes,
            lambda k: self._block_pending(block, found_ids, k),
            lambda product_id, k: _translation(product_id, found_ids, k),
        )

    def _block_writes(self, block, found_ids, plan: BlockPlan, ahead) -> BlockWrites:
        """Normalise a block's new and changed rows; what the database thread writes."""
        task = BlockWrites(translations=plan.translations, now=utcnow())
        ids, positions = found_ids.ids, found_ids.positions
        build, targets = plan.build, plan.targets
        if not build:
            return task
        if not columnar.can_normalise(self.builder):
            pending = [
                PendingRow(
                    block.first_row + positions[k],
                    ids[k],
                    block.cells(positions[k]),
                    found_ids.content_hashes[k],
                    found_ids.translation_hashes[k],
                    found_ids.titles[k].as_py(),
                    found_ids.descriptions[k].as_py(),
                )
                for k in build
            ]
            task.rows, task.changed = self._build(pending, targets, task.translations)
            return task
        if ahead is not None:
            normalised = ahead.take(build)
        else:
            normalised = columnar.normalise(
                columnar.take(block.columns, [positions[k] for k in build]),
                self.builder,
                [ids[k] for k in build],
            )
        if (
            not normalised.refused
            and not normalised.warnings
            and all(found is None for found in targets)
        ):
            new_at, changed_at = list(range(len(build))), []  # all new, no problem
        else:
            new_at, changed_at = self._sort(
                targets,
                normalised.refused,
                normalised.warnings,
                lambda j: self._block_pending(block, found_ids, build[j]),
                lambda product_id, j: _translation(product_id, found_ids, build[j]),
                task.translations,
            )
        if changed_at:
            rows = columnar.product_rows(
                normalised,
                found_ids,
                changed_at,
                [build[j] for j in changed_at],
                [block.first_row + positions[build[j]] for j in changed_at],
            )
            task.changed = [(targets[j].id, row) for j, row in zip(changed_at, rows, strict=True)]
        if new_at:
            at = [build[j] for j in new_at]
            warnings = normalised.warnings
            if len(at) == len(ids) and at == list(range(len(ids))):  # every row is new
                task.new = (
                    ids,
                    normalised.neutral,
                    found_ids.content_hashes,
                    [warnings.get(j) for j in new_at] if warnings else [None] * len(at),
                    found_ids.titles,
                    found_ids.descriptions,
                    found_ids.translation_hashes,
                )
            else:
                picked = pa.array(at, type=pa.int32())
                task.new = (
                    [ids[k] for k in at],
                    columnar.take(normalised.neutral, new_at),
                    [found_ids.content_hashes[k] for k in at],
                    [warnings.get(j) for j in new_at],
                    found_ids.titles.take(picked),
                    found_ids.descriptions.take(picked),
                    [found_ids.translation_hashes[k] for k in at],
                )
        self.counts["imported_count"] += len(new_at)
        self.counts["updated_count"] += len(task.changed)
        return task

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
