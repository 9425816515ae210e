"""Read a feed file into records, whatever its encoding, delimiter or format.

Every reader yields :class:`Record` objects: the spreadsheet row number
(header = row 1), the cells, and - when the record could not be read - a
parse error.  A broken record never costs the records after it: an opened
quote that does not close within the same physical line is given up after a
bounded look-ahead, and the reader starts again on the next line.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

from defusedxml import ElementTree as SafeET

from webapp.imports.mapping import fold, header_score

SAMPLE_BYTES = 1 << 20
MAX_FIELD_BYTES = 512 * 1024  # one cell larger than this is a row error
MAX_RECORD_LINES = 500  # a quoted cell may span this many physical lines
DELIMITERS = (",", ";", "\t", "|")
HEADER_SEARCH_ROWS = 30

csv.field_size_limit(MAX_FIELD_BYTES * 4)


class FeedError(Exception):
    """The source is not a product feed we can read: the whole import fails with this sentence."""


@dataclass(slots=True)
class Record:
    row_number: int
    cells: list[str] | None
    error: str | None = None
    raw: str | None = None


# --- encoding -----------------------------------------------------------------------------


def _utf8_or_cp1252(exc: UnicodeDecodeError):
    """Decode the bytes UTF-8 rejected as Windows-1252 (Latin-1 where 1252 has a hole).

    Real exports mix the two in one file (a Latin-1 shop feed with pasted UTF-8
    names); this keeps both readable instead of failing or producing mojibake.
    """
    bad = exc.object[exc.start : exc.end]
    return "".join(
        b.to_bytes(1, "big").decode("cp1252", errors="strict")
        if b not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)
        else chr(b)
        for b in bad
    ), exc.end


codecs.register_error("mercato_utf8_or_cp1252", _utf8_or_cp1252)
_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}")


def detect_encoding(sample: bytes) -> tuple[str, str, int]:
    """(codec, errors handler, BOM length) for a file that starts with ``sample``."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8", "mercato_utf8_or_cp1252", 3
    if sample.startswith(codecs.BOM_UTF32_LE) or sample.startswith(codecs.BOM_UTF32_BE):
        return "utf-32", "replace", 0
    if sample.startswith(codecs.BOM_UTF16_LE) or sample.startswith(codecs.BOM_UTF16_BE):
        return "utf-16", "replace", 0
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
        return "utf-8", "mercato_utf8_or_cp1252", 0
    except UnicodeDecodeError:
        pass
    if _UTF8_MULTIBYTE.search(sample):
        # Mostly UTF-8 with stray single-byte characters, or the reverse: decode per sequence.
        return "utf-8", "mercato_utf8_or_cp1252", 0
    return "cp1252", "mercato_utf8_or_cp1252", 0


def text_stream(binary, sample: bytes) -> io.TextIOWrapper:
    encoding, errors, bom = detect_encoding(sample)
    if bom:
        binary.read(bom)
    if encoding == "cp1252":
        # cp1252 has five undefined bytes; route them through the same handler.
        return io.TextIOWrapper(binary, encoding="cp1252", errors=errors, newline="")
    return io.TextIOWrapper(binary, encoding=encoding, errors=errors, newline="")


# --- format -------------------------------------------------------------------------------


def sniff_format(sample: bytes) -> str:
    """'delimited', 'xml', 'json'; raises FeedError for empty files and web pages."""
    encoding, _, bom = detect_encoding(sample)
    head = sample[bom:].decode(encoding, errors="replace").lstrip("\ufeff \t\r\n")
    if not head:
        raise FeedError("The file is empty: there is nothing to import.")
    lowered = head[:2048].lower()
    if (
        lowered.startswith("<!doctype html")
        or lowered.startswith("<html")
        or ("<html" in lowered and "<body" in lowered)
    ):
        raise FeedError(
            "The source returned a web page (HTML), not a product feed. "
            "Check the URL and any login it needs."
        )
    if head.startswith("<"):
        return "xml"
    if head.startswith("{") or head.startswith("["):
        return "json"
    return "delimited"


def detect_delimiter(lines: list[str]) -> str:
    """The candidate that splits the header and the lines after it most consistently.

    The first line with cells counts five times: data lines may hold quoted
    multi-line cells or HTML entities (``&bull;``) that fool a plain count.
    """
    best, best_score = ",", -1.0
    for delim in DELIMITERS:
        counts = []
        for line in lines[:20]:
            if not line.strip():
                continue
            try:
                cells = next(csv.reader([line], delimiter=delim))
            except (csv.Error, StopIteration):
                continue
            counts.append(len(cells))
        if not counts or max(counts) < 2:
            continue
        common = max(set(counts), key=counts.count)
        score = common * counts.count(common) + 5 * (counts[0] if counts[0] >= 2 else 0)
        if score > best_score:
            best, best_score = delim, score
    return best


# --- delimited text -----------------------------------------------------------------------


class DelimitedReader:
    """Records of a CSV/TSV file, one per spreadsheet row, header first.

    Physical lines are joined into one record text while a quote is open (a
    quoted cell may hold line breaks), then a single ``csv.reader`` parses the
    record texts.  The common case - a line with balanced quotes - costs one
    ``str.count``.
    """

    def __init__(self, text: io.TextIOBase, delimiter: str | None = None):
        self._lines = text
        self._pending: list[str] = []
        self.delimiter = delimiter
        self.header: list[str] | None = None
        self.header_width = 0  # cells in the header line, trailing blank ones included
        self.header_row = 0
        self.row_number = 0
        self._row_error: str | None = None
        self._row_text = ""

    def skip(self, lines: int) -> None:
        """Pass over ``lines`` physical lines after the header (read by the columnar path)."""
        for _ in range(lines):
            if self._next_line() is None:
                return
            self.row_number += 1

    def _next_line(self) -> str | None:
        if self._pending:
            return self._pending.pop()
        return self._readline() or None

    def _readline(self) -> str:
        line = self._lines.readline()
        # NUL is never text (PostgreSQL cannot even store it): a corrupt byte, dropped.
        return line.replace("\x00", "") if "\x00" in line else line

    def _split(self, text: str) -> list[str]:
        return next(csv.reader((text,), delimiter=self.delimiter, strict=False))

    def _record_texts(self) -> Iterator[str]:
        """One complete record text per spreadsheet row; sets the row's number and error."""
        expected = len(self.header) if self.header else None
        while True:
            line = self._next_line()
            if line is None:
                return
            self.row_number += 1
            self._row_error = None
            self._row_text = line
            if line.count('"') % 2 == 0:
                if len(line) > MAX_FIELD_BYTES:
                    self._row_error = (
                        f"the row is {len(line):,} characters long "
                        f"(a value may hold at most {MAX_FIELD_BYTES:,})"
                    )
                    yield "\n"
                    continue
                yield line
                continue
            lines = [line]
            size = len(line)
            quotes = line.count('"')
            while len(lines) < MAX_RECORD_LINES and size < MAX_FIELD_BYTES * 2:
                nxt = self._next_line()
                if nxt is None:
                    break
                lines.append(nxt)
                size += len(nxt)
                quotes += nxt.count('"')
                if quotes % 2 == 0:
                    joined = "".join(lines)
                    try:
                        cells = self._split(joined)
                    except csv.Error:
                        break
                    if expected is None or len(cells) == expected:
                        self._row_text = joined
                        yield joined
                        lines = None
                    break
            if lines is None:
                continue
            # The quote never closed sensibly: this line alone is the row; the rest go back.
            self._pending.extend(reversed(lines[1:]))
            try:
                cells = self._split(line)
            except csv.Error:
                cells = None
            if cells is not None and expected is not None and len(cells) == expected:
                # A stray inch mark (12" pizza), not a quoted cell: the line reads fine alone.
                yield self._requote(cells)
                continue
            self._row_error = "a quoted value opens here and is never closed"
            yield "\n"

    def _requote(self, cells: list[str]) -> str:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=self.delimiter, lineterminator="\n").writerow(cells)
        return buffer.getvalue()

    def __iter__(self) -> Iterator[Record]:
        if self.header is None:
            self.start()
        reader = csv.reader(self._record_texts(), delimiter=self.delimiter, strict=False)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield Record(
                    self.row_number,
                    None,
                    f"unreadable row ({exc})",
                    self._row_text.rstrip("\r\n")[:2000],
                )
                continue
            if self._row_error is not None:
                yield Record(
                    self.row_number, None, self._row_error, self._row_text.rstrip("\r\n")[:2000]
                )
                continue
            yield Record(self.row_number, cells)

    def start(self) -> list[str]:
        """Find the delimiter and the header row; return the header cells.

        The header is the first of the opening lines that names a product id
        (exports often start with a title block), else the first line with cells.
        """
        preview: list[str] = []
        for _ in range(HEADER_SEARCH_ROWS):
            line = self._readline()
            if not line:
                break
            preview.append(line)
        if self.delimiter is None:
            self.delimiter = detect_delimiter(preview)
        parsed: list[tuple[int, list[str]]] = []
        for index, line in enumerate(preview):
            try:
                cells = self._split(line)
            except (csv.Error, StopIteration):
                continue
            if sum(1 for c in cells if c.strip()) >= 2:
                parsed.append((index, cells))
        if not parsed:
            raise FeedError("The file is empty or has no columns: there is nothing to import.")
        with_id = [(i, c) for i, c in parsed if header_score(c) > 2]
        index, cells = with_id[0] if with_id else parsed[0]
        self.header_width = len(cells)
        self.header = [c.strip().lstrip("\ufeff") for c in cells]
        while self.header and self.header[-1] == "":
            self.header.pop()
        self.header_row = index + 1
        self.row_number = index + 1
        self._pending.extend(reversed(preview[index + 1 :]))
        return self.header


# --- XML ---------------------------------------------------------------------------------

RECORD_TAGS = ("item", "entry", "product", "offer", "article", "produit", "artikel")
# Names of a product id field (folded, see mapping.fold): the element holding the first one
# is a product, when the feed names its products otherwise than RECORD_TAGS.  Generic names
# ("code", "ref") are left out: a nested group (a price's currency code) may use them.
ID_FIELD_NAMES = frozenset(
    (
        "id",
        "idproduct",
        "productid",
        "itemid",
        "offerid",
        "productcode",
        "articleid",
        "sku",
        "variantsku",
        "artikelnummer",
        "artikelnr",
        "articlenumber",
        "itemnumber",
        "productnumber",
    )
)
MAX_NESTING = 100  # levels of elements (XML) or of objects and lists (JSON)


def _nesting_error(kind: str, row: int) -> FeedError:
    return FeedError(
        f"The {kind} nests deeper than {MAX_NESTING} levels (after row {row}): a product "
        "feed never does; the file is damaged or not a feed."
    )


def _local(tag: str) -> tuple[str, str]:
    """('g', 'price') for '{http://base.google.com/ns/1.0}price', ('', 'price') otherwise."""
    if tag.startswith("{"):
        uri, _, name = tag[1:].partition("}")
        prefix = "g" if "base.google.com" in uri else ""
        return prefix, name
    return "", tag


def _key(tag: str) -> str:
    prefix, name = _local(tag)
    return f"{prefix}:{name}" if prefix else name


def _flatten(element, prefix: str, out: dict[str, str], nested: set[str]) -> None:
    """An element's children as fields; those inside a group (``g:shipping``) are named
    ``g:shipping.g:price`` and listed in ``nested``: they never stand for a product field."""
    for child in element:
        key = prefix + _key(child.tag)
        if len(child):
            _flatten(child, key + ".", out, nested)
            continue
        value = (child.text or "").strip()
        if not value and child.get("href"):
            value = child.get("href")
        if prefix:
            nested.add(key)
        if key in out:
            if value:
                out[key] = f"{out[key]}, {value}" if out[key] else value
        else:
            out[key] = value


def iter_xml(binary) -> Iterator[tuple[int, dict[str, str], frozenset[str], None]]:
    """Flat product nodes (Lengow), Google RSS items and Atom entries: (row, fields, names
    of the nested fields, None) each.

    The product element is the first one named like a product (RECORD_TAGS), else the
    element that holds the first product id field (``<g:id>``, ``<sku>``...), never the
    root: a nested group (``<g:shipping>``, ``<g:tax>``) is never taken for a product.
    """
    record_tag = None
    candidate = None  # the parent of the first id field, a product once it ends
    path: list = []  # the open elements
    row = 1
    try:
        for event, element in SafeET.iterparse(binary, events=("start", "end"), forbid_dtd=True):
            if event == "start":
                path.append(element)
                if len(path) > MAX_NESTING:
                    raise _nesting_error("XML", row)
                if (
                    record_tag is None
                    and len(path) >= 2
                    and _local(element.tag)[1].lower() in RECORD_TAGS
                    and (candidate is None or all(e is not candidate for e in path))
                ):
                    record_tag = element.tag
                continue
            path.pop()
            if record_tag is None:
                if (
                    candidate is None
                    and len(path) >= 2  # its parent is not the root
                    and not len(element)
                    and fold(_local(element.tag)[1]) in ID_FIELD_NAMES
                ):
                    candidate = path[-1]
                elif element is candidate:
                    record_tag = element.tag
            if element.tag == record_tag:
                fields: dict[str, str] = {}
                nested: set[str] = set()
                _flatten(element, "", fields, nested)
                row += 1
                yield row, fields, frozenset(nested), None
                element.clear()
    except SafeET.ParseError as exc:
        raise FeedError(f"The XML is malformed after row {row}: {exc}") from exc
    except FeedError:
        raise
    except Exception as exc:  # defusedxml's refusals (DTD, entities) land here
        if exc.__class__.__module__.startswith("defusedxml"):
            raise FeedError(f"The XML uses a construct we refuse for safety: {exc}") from exc
        raise
    if record_tag is None:
        raise FeedError(
            "The XML holds no product nodes: no item, entry or product element, and no "
            "element with a product id field (g:id, id, sku...)."
        )


# --- JSON ---------------------------------------------------------------------------------


def _find_collection(data, depth: int = 0) -> list | None:
    if depth > MAX_NESTING:
        raise _nesting_error("JSON", 1)
    if isinstance(data, list):
        return data
    if not isinstance(data, dict):
        return None
    for key, value in data.items():
        if key.lower() in ("products", "product", "items", "item", "offers", "entries"):
            found = _find_collection(value, depth + 1)
            if found is not None:
                return found
    for value in data.values():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            return value
    for value in data.values():
        if isinstance(value, dict):
            found = _find_collection(value, depth + 1)
            if found is not None:
                return found
    return None


class _TooDeep(Exception):
    pass


def _flatten_json(obj: dict, prefix: str, out: dict[str, str], nested: set[str], depth=0):
    if depth > MAX_NESTING:
        raise _TooDeep
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _flatten_json(value, name + ".", out, nested, depth + 1)
            continue
        if prefix:
            nested.add(name)
        if isinstance(value, list):
            if all(not isinstance(v, (dict, list)) for v in value):
                out[name] = ", ".join("" if v is None else str(v) for v in value)
            else:
                try:
                    out[name] = json.dumps(value, ensure_ascii=False)
                except RecursionError:
                    raise _TooDeep from None
        elif value is None:
            out[name] = ""
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value).replace("\x00", "")


def load_json(text: io.TextIOBase) -> list:
    """The products collection of a JSON feed (the whole document is read)."""
    try:
        data = json.load(text)
    except json.JSONDecodeError as exc:
        raise FeedError(f"The JSON is malformed: {exc}") from exc
    except RecursionError:
        raise _nesting_error("JSON", 1) from None
    collection = _find_collection(data)
    if collection is None:
        raise FeedError('The JSON holds no products collection (e.g. {"products": [...]}).')
    return collection


def iter_json(collection: list) -> Iterator[tuple[int, dict[str, str], frozenset[str], str | None]]:
    """(row, fields, names of the nested fields, error) of each product of a collection."""
    for index, item in enumerate(collection):
        fields: dict[str, str] = {}
        nested: set[str] = set()
        error = None
        if isinstance(item, dict):
            try:
                _flatten_json(item, "", fields, nested)
            except _TooDeep:
                fields, nested = {}, set()
                error = f"the product's fields nest deeper than {MAX_NESTING} levels"
        yield index + 2, fields, frozenset(nested), error
