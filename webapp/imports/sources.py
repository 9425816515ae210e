"""Where a feed's bytes come from: a URL (downloaded to disk), an upload, or a CLI path.

Whatever the origin, :func:`open_feed` returns a binary stream of the
uncompressed feed (gzip and zip are unpacked on the fly) and a way to tell how
far through the source the reader is, for the progress bar.
"""

from __future__ import annotations

import gzip
import io
import zipfile
from contextlib import contextmanager
from pathlib import Path

from webapp.imports.reader import FeedError


class CountingReader(io.RawIOBase):
    """Counts the bytes read from a file object, so progress can be reported."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.raw.readinto(buffer)  # files, gzip and zip members all read into
        self.count += n
        return n


@contextmanager
def open_feed(path: str | Path):
    """Yield (binary stream factory, progress fraction function) for a local file.

    The factory can be called more than once (the sniffer reads a sample, the
    reader starts again from the top); each call returns a fresh stream.
    """
    path = Path(path)
    if not path.exists():
        raise FeedError(f"The file {path.name!r} does not exist.")
    size = path.stat().st_size
    if size == 0:
        raise FeedError("The file is empty: there is nothing to import.")
    with path.open("rb") as fh:
        magic = fh.read(4)
    opened: list = []
    counters: list[CountingReader] = []
    total = [size]

    def factory() -> io.BufferedReader:
        raw = path.open("rb")
        opened.append(raw)
        counter = CountingReader(raw)
        counters.append(counter)
        if magic[:2] == b"\x1f\x8b":
            stream = gzip.GzipFile(fileobj=io.BufferedReader(counter, 1 << 16))
            opened.append(stream)
            return io.BufferedReader(stream, 1 << 16)
        if magic == b"PK\x03\x04":
            archive = zipfile.ZipFile(raw)
            opened.append(archive)
            members = [
                m
                for m in archive.infolist()
                if not m.is_dir() and not m.filename.startswith("__MACOSX/")
            ]
            if not members:
                raise FeedError("The zip archive holds no file.")
            member = max(members, key=lambda m: m.file_size)
            total[0] = max(1, member.file_size)
            inner = CountingReader(archive.open(member))
            counters.append(inner)
            return io.BufferedReader(inner, 1 << 16)
        return io.BufferedReader(counter, 1 << 16)

    def progress() -> float:
        if not counters:
            return 0.0
        return min(1.0, counters[-1].count / total[0])

    try:
        yield factory, progress
    finally:
        for obj in reversed(opened):
            try:
                obj.close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort
                pass
