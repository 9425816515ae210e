"""The columnar path: clean delimited UTF-8 feeds read and normalised a column at a time.

The Python reader (:mod:`webapp.imports.reader`) and builder (:mod:`webapp.imports.rows`)
cost some 30 microseconds a row, most of it the interpreter walking cells one by one.
For the common feed - one record per line, UTF-8, no quote or line break inside a
value - pyarrow's native CSV parser reads chunks of 1 MB, and ids, titles, hashes and
the normalised fields of new or changed rows are computed on whole columns.  The
Python normalisers still decide every value that is not in its plain form (a price
such as "1.299,00 €", a GTIN with a wrong check digit, a brand, an availability word),
so both paths give the same products, counts and messages; tests compare them on
every feed we have.

The path stops at the first record that might read differently in the two: a quote,
line break or NUL inside a value, a record longer than a cell may be, a record with
more or fewer cells than the header (pyarrow refuses its whole chunk), or bytes that
are not UTF-8.  The Python reader then takes over from that record, after
skipping the records already imported, so one odd row costs speed, never a row.
"""

from __future__ import annotations

import ctypes
import io
import time
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
from pyroaring import BitMap
from xxhash import xxh3_64_intdigest

from webapp.imports.normalize import parse_availability, parse_condition
from webapp.imports.reader import MAX_FIELD_BYTES, DelimitedReader, detect_encoding
from webapp.imports.rows import (
    TEXT_FIELDS,
    ProductRow,
    Rejected,
    RowBuilder,
    _brand,
    _currency,
    _gtin,
    _json_string,
    problem_outcome,
)

BLOCK_BYTES = 1 << 20  # read and parsed at a time: the import's memory is a few of them
# A value holding one of these might be read otherwise by the Python reader: a quote,
# a line break, a NUL.  (pyarrow's utf8_trim_whitespace trims exactly what str.strip does,
# checked for every code point, so whitespace needs no care.)
_ODD = (b'"', b"\r", b"\n", b"\x00")
_PLAIN_PRICE = r"^(?P<n>\d{1,15}(?:\.\d{1,6})?)(?: ?(?P<c>[A-Z]{3}))?$"
_PLAIN_GTIN = r"^(?:\d{8}|\d{12,14})$"
_JSON_PLAIN = r'^[^\\"\x00-\x1f]*$'
_STRING = pa.string()


def eligible(reader: DelimitedReader, builder: RowBuilder, sample: bytes) -> bool:
    """Whether this delimited feed can start on the columnar path."""
    encoding, _, _ = detect_encoding(sample)
    index = builder.cmap.index
    return (
        encoding == "utf-8"
        and reader.header_row == 1
        and reader.header_width == len(reader.header)
        and "id" in index
        and "title" in index
        and not builder.has_special_rows
    )


@dataclass(slots=True)
class Block:
    """Consecutive records of the feed, every one a single physical line."""

    first_row: int  # spreadsheet row number of the first record
    columns: list[pa.Array]

    def __len__(self) -> int:
        return len(self.columns[0]) if self.columns else 0

    def cells(self, i: int) -> list[str]:
        return [column[i].as_py() for column in self.columns]


_MEMORY_SET = False


def bound_memory() -> None:
    """Make freed buffers go back to the system at once (once per process).

    The columnar path allocates and frees a few MB per block.  glibc's malloc raises its
    mmap threshold after the first such free and keeps later ones in its heap, and
    pyarrow's default pool (mimalloc) keeps freed pages too: measured, that retention was
    half the import's memory.  A fixed 256 kB mmap threshold, a 1 MB trim threshold and
    pyarrow on the system allocator keep the process flat (bench/import_feed.py).
    """
    global _MEMORY_SET
    if _MEMORY_SET:
        return
    _MEMORY_SET = True
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 256 << 10)  # M_MMAP_THRESHOLD (fixed: no dynamic raise)
        libc.mallopt(-1, 1 << 20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):  # not glibc: its own defaults apply
        pass


class ColumnarReader:
    """Blocks of clean records from the top of a feed; ``read`` says how many it gave."""

    def __init__(
        self, binary, delimiter: str, width: int, batch_size: int, block_bytes: int = BLOCK_BYTES
    ):
        self.binary = binary
        self.block_bytes = block_bytes
        self.delimiter = delimiter
        self.width = width
        self.batch_size = batch_size
        self.read = 0  # records handed out
        self.stopped = False  # True when the rest of the file needs the Python reader
        self.cpu = 0.0  # CPU seconds spent reading and parsing, in the thread that does

    def blocks(self) -> Iterator[Block]:
        """:meth:`parse`, counting its thread's CPU time in ``cpu``."""
        started = time.thread_time()
        for block in self.parse():
            self.cpu += time.thread_time() - started
            yield block
            started = time.thread_time()
        self.cpu += time.thread_time() - started

    def parse(self) -> Iterator[Block]:
        """Parse the feed a chunk of whole lines at a time.

        The chunks are cut here, at the last line break of each ``block_bytes`` read,
        not by pyarrow's streaming reader: that one reads the source ahead of its
        consumer without bound (measured: the whole file), which would break the
        import's flat memory.  A record is one line on this path, so a cut at a line
        break is a cut between records; a quoted line break that straddles a cut makes
        both halves odd or ragged, and the Python reader takes over from there.
        """
        names = [f"c{i}" for i in range(self.width)]
        parse = pcsv.ParseOptions(
            delimiter=self.delimiter,
            quote_char='"',
            double_quote=True,
            newlines_in_values=False,
            ignore_empty_lines=False,
        )
        convert = pcsv.ConvertOptions(
            column_types=dict.fromkeys(names, _STRING),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        self.binary.readline()  # the header (line 1: eligible() checked it)
        rest = b""
        waiting: list[list[pa.Array]] = []  # clean records not yet handed out, per chunk
        count = 0
        while True:
            data = self.binary.read(self.block_bytes)
            if not data:
                chunk, rest = rest, b""
            else:
                data = rest + data
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # a line longer than a block, or no line feeds at all
                    self.stopped = True
                    break
                chunk, rest = data[:cut], data[cut:]
            if not chunk:
                break
            try:
                table = pcsv.read_csv(
                    io.BytesIO(chunk),
                    read_options=pcsv.ReadOptions(
                        column_names=names, block_size=len(chunk) + 1, use_threads=False
                    ),
                    parse_options=parse,
                    convert_options=convert,
                )
            except (pa.ArrowInvalid, UnicodeDecodeError):
                # A ragged record or bytes that are not UTF-8 somewhere in this chunk.
                self.stopped = True
                break
            del chunk
            columns = [column.combine_chunks() for column in table.columns]
            rows = table.num_rows
            del table
            clean = _clean_prefix(columns)
            if clean < rows:
                columns = [c.slice(0, clean) for c in columns]
            # Whole batches go out; the rest waits for the next chunk's records.  Each
            # record is copied once, when its batch is put together from the chunks.
            waiting.append(columns)
            count += len(columns[0])
            while count >= self.batch_size:
                yield self._block(_take_first(waiting, self.batch_size))
                count -= self.batch_size
            if clean < rows:
                self.stopped = True
                break
        if count:
            yield self._block(_take_first(waiting, count))

    def _block(self, columns: list[pa.Array]) -> Block:
        block = Block(self.read + 2, columns)
        self.read += len(block)
        return block


def _take_first(pieces: list[list[pa.Array]], n: int) -> list[pa.Array]:
    """The first ``n`` records of ``pieces`` (chunks' columns) as one array per column,
    removed from ``pieces``."""
    taken = []
    while n:
        piece = pieces[0]
        size = len(piece[0])
        if size <= n:
            taken.append(piece)
            pieces.pop(0)
            n -= size
        else:
            taken.append([c.slice(0, n) for c in piece])
            pieces[0] = [c.slice(n) for c in piece]
            n = 0
    if len(taken) == 1:
        return taken[0]
    return [pa.concat_arrays(list(parts)) for parts in zip(*taken, strict=True)]


def _clean_prefix(columns: list[pa.Array]) -> int:
    """How many leading records of a parsed block read the same on both paths."""
    # The records' cells joined into one contiguous buffer, searched with bytes.find
    # (memchr) for each odd character: much faster than a regex run per cell.
    record = pc.binary_join_element_wise(*columns, "\x01")  # a separator not odd
    offsets = memoryview(record.buffers()[1]).cast("i")
    data = record.buffers()[2].to_pybytes() if record.buffers()[2] is not None else b""
    hits = [at for odd in _ODD if (at := data.find(odd)) >= 0]  # memchr each
    first = len(record)
    if hits:
        first = bisect_right(offsets, min(hits)) - 1  # the record holding the first one
    # The Python reader refuses a record longer than MAX_FIELD_BYTES characters; this
    # counts bytes (never fewer), so a record near the limit goes to that reader.
    long = pc.greater(pc.binary_length(record), MAX_FIELD_BYTES - len(columns))
    if pc.any(long).as_py():
        first = min(first, pc.index(long, True).as_py())
    return first


# -- one batch ------------------------------------------------------------------------------


def _blank_to_null(array: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(array, ""), pa.scalar(None, _STRING), array)


def _hashes(joined: pa.Array) -> list[int]:
    """stable_hash of every string of a string array (XXH3 of its UTF-8 bytes, signed)."""
    digests = array("Q", map(xxh3_64_intdigest, joined.cast(pa.binary()).to_pylist()))
    return array("q", digests.tobytes()).tolist()  # the same 64 bits, read as signed


class IdsRead:
    """Which ids a run may have read before: a Bloom filter of two 24-bit hashes in two
    roaring bitmaps, at most 2 MB each whatever the file's size (a set of the ids, or
    of 32-bit hashes, grows with it: 9 MB at 1,000,000 ids).  "May": one id in ~300 at
    1,000,000 ids read is a false alarm, which costs only its lookup."""

    def __init__(self) -> None:
        self.low = BitMap()
        self.high = BitMap()

    def again(self, ids: list[str]) -> list[str]:
        """The ``ids`` that may have been read before; all of them are read from now."""
        digests = [xxh3_64_intdigest(i.encode()) for i in ids]
        low = [d & 0xFFFFFF for d in digests]
        high = [(d >> 40) & 0xFFFFFF for d in digests]
        low_seen = BitMap(low) & self.low
        high_seen = BitMap(high) & self.high
        self.low.update(low)
        self.high.update(high)
        if not low_seen or not high_seen:
            return []
        return [
            i for i, a, b in zip(ids, low, high, strict=True) if a in low_seen and b in high_seen
        ]


def _by_value(array: pa.Array, parse: Callable[[str], object]) -> pa.Array:
    """``parse`` applied once per distinct value (brands, availability words repeat)."""
    encoded = pc.dictionary_encode(array)
    values = pa.array([parse(v) for v in encoded.dictionary.to_pylist()], type=_STRING)
    return values.take(encoded.indices)


def _patch(array: pa.Array, where: list[int], values: list) -> pa.Array:
    """``array`` with the values at positions ``where`` replaced (positions ascending)."""
    if not where:
        return array
    mask = [False] * len(array)
    for i in where:
        mask[i] = True
    return pc.replace_with_mask(array, pa.array(mask), pa.array(values, type=array.type))


@dataclass(slots=True)
class Identified:
    """The records of a block that have an id and a title, with their hashes."""

    positions: list[int]  # index in the block
    refused: list[int]  # index in the block of the records without id or title
    ids: list[str]
    content_hashes: list[int]
    translation_hashes: list[int]
    titles: pa.Array
    descriptions: pa.Array  # null where empty


def identify(block: Block, builder: RowBuilder) -> Identified:
    """Ids, titles and hashes of a block.  Every other record (no id, no title, an id too
    long, a blank line) is listed in ``refused``, for the Python builder to word its
    error."""
    index = builder.cmap.index
    columns = block.columns
    ids = pc.utf8_trim_whitespace(columns[index["id"]])
    titles = pc.utf8_trim_whitespace(columns[index["title"]])
    good = pc.and_(
        pc.and_(pc.not_equal(ids, ""), pc.not_equal(titles, "")),
        pc.less_equal(pc.utf8_length(ids), 255),
    )
    n = len(block)
    refused = []
    if pc.all(good).as_py():
        positions = list(range(n))
    else:
        flags = good.to_pylist()
        positions = [i for i in range(n) if flags[i]]
        refused = [i for i in range(n) if not flags[i]]
        keep = pa.array(positions, type=pa.int32())
        ids, titles = ids.take(keep), titles.take(keep)
        columns = [c.take(keep) for c in columns]
    if "description" in index:
        descriptions = _blank_to_null(pc.utf8_trim_whitespace(columns[index["description"]]))
    else:
        descriptions = pa.nulls(len(positions), _STRING)
    text_idx = {index[name] for name in TEXT_FIELDS if name in index}
    hashed = [columns[i] for i in range(len(columns)) if i not in text_idx]
    content = pc.binary_join_element_wise(builder.hash_prefix, *hashed, "\x1f")
    if builder.has_description:
        translation = pc.binary_join_element_wise(
            titles, pc.fill_null(descriptions, "None"), "\x1f"
        )
    else:  # as RowBuilder.identify: the title and a separator
        translation = pc.binary_join_element_wise(titles, "", "\x1e")
    return Identified(
        positions,
        refused,
        ids.to_pylist(),
        _hashes(content),
        _hashes(translation),
        titles,
        descriptions,
    )


def take(columns: list[pa.Array], positions: list[int]) -> list[pa.Array]:
    if len(positions) == len(columns[0]) and positions == list(range(len(positions))):
        return columns
    picked = pa.array(positions, type=pa.int32())
    return [column.take(picked) for column in columns]


@dataclass(slots=True)
class Normalised:
    """New or changed rows: the writer's neutral columns, and what went wrong."""

    neutral: list[pa.Array]  # writer.NEUTRAL_COLUMNS order; prices as exact decimal text
    refused: dict[int, Rejected]  # row position -> why it is not imported
    warnings: dict[int, str]  # row position -> JSON list of warnings

    def take(self, positions: list[int]) -> Normalised:
        """The rows at ``positions``, renumbered 0..n-1."""
        where = {old: new for new, old in enumerate(positions)}
        return Normalised(
            take(self.neutral, positions),
            {where[k]: v for k, v in self.refused.items() if k in where},
            {where[k]: v for k, v in self.warnings.items() if k in where},
        )


def can_normalise(builder: RowBuilder) -> bool:
    """A stock quantity column mixes availability and attributes per row: Python's job."""
    return "quantity" not in builder.cmap.index


def normalise(columns: list[pa.Array], builder: RowBuilder, ids: list[str]) -> Normalised:
    """The columnar twin of :meth:`RowBuilder.normalise` for rows ``columns`` (taken)."""
    index = builder.cmap.index
    n = len(columns[0])

    def column(name: str) -> pa.Array | None:
        i = index.get(name)
        return None if i is None else pc.utf8_trim_whitespace(columns[i])

    prices, price_currency, price_problems = _prices(column("price"), builder, n)
    sales, sale_currency, sale_problems = _prices(column("sale_price"), builder, n)
    gtins, gtin_problems = _gtins(column("gtin"), n)
    currency_text = column("currency")
    currencies = pc.coalesce(
        price_currency,
        sale_currency,
        _by_value(currency_text, lambda t: builder._cached("c", t, _currency) if t else None)
        if currency_text is not None
        else pa.nulls(n, _STRING),
    )
    availability = column("availability")
    availabilities = (
        _by_value(availability, lambda t: builder._cached("a", t, parse_availability))
        if availability is not None
        else pa.array([parse_availability("")] * n, type=_STRING)
    )
    brand = column("brand")
    brands = (
        _by_value(brand, lambda t: builder._cached("b", t, _brand))
        if brand is not None
        else pa.array([_brand("")] * n, type=_STRING)
    )
    condition = column("condition")
    conditions = (
        _by_value(condition, lambda t: builder._cached("k", t, parse_condition))
        if condition is not None
        else pa.array([parse_condition("")] * n, type=_STRING)
    )
    mpns = _text(column("mpn"), n, limit=255)
    refused: dict[int, Rejected] = {}
    warnings: dict[int, str] = {}
    for k in sorted(set(price_problems) | set(sale_problems) | set(gtin_problems)):
        rejected, warned = problem_outcome(
            ids[k], price_problems.get(k), sale_problems.get(k), gtin_problems.get(k)
        )
        if rejected is not None:
            refused[k] = rejected
        elif warned is not None:
            warnings[k] = warned
    if sale_problems:
        sales = _patch(sales, sorted(sale_problems), [None] * len(sale_problems))
    neutral = [
        _text(column("item_group_id"), n),
        gtins,
        mpns,
        brands,
        prices,
        sales,
        currencies,
        availabilities,
        pa.nulls(n, pa.int64()),  # quantity: only feeds with a quantity column have one
        conditions,
        _text(column("link"), n),
        _text(column("image_link"), n),
        _extras(columns, builder, n),
    ]
    return Normalised(neutral, refused, warnings)


def _text(array: pa.Array | None, n: int, limit: int | None = None) -> pa.Array:
    if array is None:
        return pa.nulls(n, _STRING)
    if limit is not None:
        long = pc.greater(pc.utf8_length(array), limit)
        if pc.any(long).as_py():
            where = [i for i, v in enumerate(long.to_pylist()) if v]
            array = _patch(array, where, [array[i].as_py()[:limit] for i in where])
    return _blank_to_null(array)


def _prices(
    array: pa.Array | None, builder: RowBuilder, n: int
) -> tuple[pa.Array, pa.Array, dict[int, str]]:
    """(amount as exact decimal text, currency, {position: problem}) of a price column."""
    if array is None:
        return pa.nulls(n, _STRING), pa.nulls(n, _STRING), {}
    parts = pc.extract_regex(array, _PLAIN_PRICE)
    amounts = parts.field("n")
    if pc.any(pc.starts_with(amounts, "0")).as_py():
        # Decimal("0012.50") is 12.50: drop the zeros before the first significant digit.
        amounts = pc.replace_substring_regex(amounts, r"^0+(\d)", r"\1")
    amounts = pc.if_else(parts.is_valid(), amounts, pa.scalar(None, _STRING))
    currencies = _blank_to_null(parts.field("c"))
    other = pc.and_(pc.invert(parts.is_valid()), pc.not_equal(array, ""))
    problems: dict[int, str] = {}
    if pc.any(other).as_py():
        where = [i for i, v in enumerate(other.to_pylist()) if v]
        texts, codes = [], []
        for i in where:
            amount, code, problem = builder._price(array[i].as_py())
            texts.append(None if amount is None else str(amount))
            codes.append(code)
            if problem:
                problems[i] = problem
        amounts = _patch(amounts, where, texts)
        currencies = _patch(currencies, where, codes)
    return amounts, currencies, problems


def _gtins(array: pa.Array | None, n: int) -> tuple[pa.Array, dict[int, str]]:
    """(GTIN or null, {position: why it was dropped}), check digits computed on columns."""
    if array is None:
        return pa.nulls(n, _STRING), {}
    plain = pc.match_substring_regex(array, _PLAIN_GTIN)
    digits = pc.cast(pc.if_else(plain, pc.utf8_lpad(array, 14, "0"), "00000000000000"), pa.int64())
    total = None
    rest = digits
    for position in range(14):  # from the right: check digit, then weights 3, 1, 3...
        quotient = pc.divide(rest, 10)
        digit = pc.subtract(rest, pc.multiply(quotient, 10))
        rest = quotient
        if position == 0:
            check = digit
            continue
        term = pc.multiply(digit, 3) if position % 2 else digit
        total = term if total is None else pc.add(total, term)
    expected = pc.subtract(10, pc.subtract(total, pc.multiply(pc.divide(total, 10), 10)))
    expected = pc.if_else(pc.equal(expected, 10), 0, expected)
    valid = pc.and_(plain, pc.equal(expected, check))
    gtins = pc.if_else(valid, array, pa.scalar(None, _STRING))
    other = pc.and_(pc.invert(valid), pc.not_equal(array, ""))
    problems: dict[int, str] = {}
    if pc.any(other).as_py():
        where = [i for i, v in enumerate(other.to_pylist()) if v]
        values = []
        for i in where:
            value, problem = _gtin(array[i].as_py())
            values.append(value)
            if problem:
                problems[i] = problem
        gtins = _patch(gtins, where, values)
    return gtins, problems


# The bytes JSON escapes in a string (besides '"', never on this path): a backslash and
# the control characters.  bytes.translate deletes every other byte in one pass.
_NOT_JSON_ESCAPED = bytes(b for b in range(256) if b >= 0x20 and b != ord("\\"))


def _needs_json_escape(values: pa.Array) -> bool:
    """Whether some value of a fresh string array needs JSON escapes (one pass, no regex)."""
    data = values.buffers()[2]
    return bool(data is not None and data.to_pybytes().translate(None, _NOT_JSON_ESCAPED))


def _extras(columns: list[pa.Array], builder: RowBuilder, n: int) -> pa.Array:
    """Unmapped columns as a JSON object per row (null when all are empty)."""
    if not builder.cmap.extra:
        return pa.nulls(n, _STRING)
    trimmed = [pc.utf8_trim_whitespace(columns[i]) for i, _ in builder.cmap.extra]
    escapes = [_needs_json_escape(values) for values in trimmed]
    if not any(escapes):
        # Most blocks: no value needs a JSON escape.  Rows where every attribute has a
        # value are one join of keys and values (one pass, where the general way below
        # makes four per attribute); only a block with blank values goes that way.
        pieces = []
        for k, (_, header) in enumerate(builder.cmap.extra):
            pieces += [("{" if k == 0 else '",') + _json_string(header) + ':"', trimmed[k]]
        full = pc.binary_join_element_wise(*pieces, '"}', "")
        blank = pc.equal(trimmed[0], "")
        for values in trimmed[1:]:
            blank = pc.or_(blank, pc.equal(values, ""))
        if not pc.any(blank).as_py():
            return full
    parts = []
    for (_, header), values, escaped in zip(builder.cmap.extra, trimmed, escapes, strict=True):
        key = _json_string(header) + ':"'
        part = pc.binary_join_element_wise(key, values, '"', "")
        if escaped:
            plain = pc.match_substring_regex(values, _JSON_PLAIN)
            where = [k for k, v in enumerate(plain.to_pylist()) if not v]
            part = _patch(
                part,
                where,
                [_json_string(header) + ":" + _json_string(values[k].as_py()) for k in where],
            )
        parts.append(pc.if_else(pc.equal(values, ""), pa.scalar(None, _STRING), part))
    joined = parts[0]
    for part in parts[1:]:  # "a,b" where both are present, else whichever is
        joined = pc.coalesce(pc.binary_join_element_wise(joined, part, ","), joined, part)
    return pc.binary_join_element_wise("{", joined, "}", "")  # null stays null


def product_rows(
    normalised: Normalised,
    identified: Identified,
    at: list[int],
    rows: list[int],
    row_numbers: list[int],
) -> list[ProductRow]:
    """Python rows for positions ``at`` of a normalised batch (identified rows ``rows``),
    for the update statements."""
    picked = pa.array(at, type=pa.int32())
    lists = [column.take(picked).to_pylist() for column in normalised.neutral]
    out = []
    for k, (j, i, row_number) in enumerate(zip(at, rows, row_numbers, strict=True)):
        neutral = [values[k] for values in lists]
        for p in (4, 5):  # prices travel as text; the writer binds Decimals
            if neutral[p] is not None:
                neutral[p] = Decimal(neutral[p])
        description = identified.descriptions[i].as_py()
        out.append(
            ProductRow(
                row_number,
                identified.ids[i],
                tuple(neutral),
                identified.content_hashes[i],
                identified.titles[i].as_py(),
                description,
                identified.translation_hashes[i],
                normalised.warnings.get(j),
            )
        )
    return out


def csv_bytes(columns: list[pa.Array], names: list[str]) -> bytes:
    """Columns as CSV for PostgreSQL's COPY (null: an empty unquoted field)."""
    buffer = io.BytesIO()
    pcsv.write_csv(
        pa.table(columns, names=names),
        buffer,
        write_options=pcsv.WriteOptions(include_header=False, quoting_style="needed"),
    )
    return buffer.getvalue()
