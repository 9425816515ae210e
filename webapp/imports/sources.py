"""Where a feed's bytes come from: a URL (downloaded to disk), an upload, or a CLI path.

Whatever the origin, :func:`open_feed` returns a binary stream of the
uncompressed feed (gzip and zip are unpacked first, within a size and a ratio
limit) and a way to tell how far through the source the reader is, for the
progress bar.
"""

from __future__ import annotations

import gzip
import io
import os
import tempfile
import zipfile
import zlib
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


MAX_UNPACK_RATIO = 200  # real feeds compress 3-13 times, all-boilerplate ones ~130
RATIO_FLOOR = 16 << 20  # the ratio is judged once this much has come out
CHUNK = 1 << 20


def _size(n: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} bytes"


def _bomb(text: str) -> FeedError:
    return FeedError(f"{text}: refused as a compression bomb. Nothing was imported.")


def _unpack(path: Path, magic: bytes, dest: Path, max_bytes: int, max_ratio: float) -> None:
    """Decompress ``path`` (gzip, or the largest file of a zip) into ``dest``, counting
    what comes out: more than ``max_bytes``, or more than ``max_ratio`` times what went in
    (past the first RATIO_FLOOR bytes), is a compression bomb and stops at once.  A
    damaged archive is said in words."""
    kind = "gzip" if magic[:2] == b"\x1f\x8b" else "zip"
    try:
        with path.open("rb") as raw, dest.open("wb") as out:
            if kind == "gzip":
                counter = CountingReader(raw)
                stream = gzip.GzipFile(fileobj=io.BufferedReader(counter, 1 << 16))

                def consumed() -> int:
                    return counter.count

            else:
                archive = zipfile.ZipFile(raw)
                members = [
                    m
                    for m in archive.infolist()
                    if not m.is_dir() and not m.filename.startswith("__MACOSX/")
                ]
                if not members:
                    raise FeedError("The zip archive holds no file.")
                member = max(members, key=lambda m: m.file_size)
                packed = max(1, member.compress_size)
                if member.file_size > max_bytes:
                    raise _bomb(
                        f"The zip archive's file unpacks to {_size(member.file_size)}, "
                        f"more than the {_size(max_bytes)} a feed may be"
                    )
                if member.file_size > RATIO_FLOOR and member.file_size > max_ratio * packed:
                    raise _bomb(
                        f"The zip archive's file expands {member.file_size / packed:,.0f} "
                        f"times ({_size(member.file_size)} from {_size(packed)})"
                    )
                stream = archive.open(member)

                def consumed() -> int:
                    return packed

            total = 0
            while chunk := stream.read(CHUNK):
                total += len(chunk)
                if total > max_bytes:
                    raise _bomb(
                        f"The compressed file unpacks to more than the {_size(max_bytes)} "
                        "a feed may be"
                    )
                if total > RATIO_FLOOR and total > max_ratio * max(1, consumed()):
                    raise _bomb(
                        f"The compressed file expands more than {max_ratio:g} times "
                        f"({_size(total)} from {_size(consumed())} so far)"
                    )
                out.write(chunk)
    except FeedError:
        raise
    except EOFError as exc:
        raise FeedError(
            f"The {kind} file is truncated: it ends before its compressed data does "
            "(a download or upload cut short?). Nothing was imported."
        ) from exc
    except (gzip.BadGzipFile, zipfile.BadZipFile, zlib.error) as exc:
        what = "gzip file" if kind == "gzip" else "zip archive"
        raise FeedError(f"The {what} is damaged ({exc}). Nothing was imported.") from exc
    except NotImplementedError as exc:  # a compression method zipfile cannot read
        raise FeedError(f"The zip archive cannot be read: {exc}.") from exc
    except RuntimeError as exc:  # zipfile: "File ... is encrypted, password required ..."
        if "encrypted" not in str(exc):
            raise
        raise FeedError("The zip archive is password-protected: send it unencrypted.") from exc


@contextmanager
def open_feed(
    path: str | Path,
    *,
    scratch: str | Path | None = None,
    max_bytes: int = 2 << 30,
    max_ratio: float = MAX_UNPACK_RATIO,
):
    """Yield (binary stream factory, progress fraction function) for a local file.

    The factory can be called more than once (the sniffer reads a sample, the
    reader starts again from the top); each call returns a fresh stream.  A gzip or
    zip file is first unpacked into ``scratch`` (a directory; the file's own by
    default), within ``max_bytes`` and ``max_ratio`` (see :func:`_unpack`), and
    removed afterwards.
    """
    path = Path(path)
    if not path.exists():
        raise FeedError(f"The file {path.name!r} does not exist.")
    size = path.stat().st_size
    if size == 0:
        raise FeedError("The file is empty: there is nothing to import.")
    with path.open("rb") as fh:
        magic = fh.read(4)
    unpacked = None
    if magic[:2] == b"\x1f\x8b" or magic == b"PK\x03\x04":
        folder = Path(scratch) if scratch is not None else path.parent
        folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="unpacked-", dir=folder)
        os.close(handle)
        unpacked = Path(name)
        try:
            _unpack(path, magic, unpacked, max_bytes, max_ratio)
        except BaseException:
            unpacked.unlink(missing_ok=True)
            raise
        path, size = unpacked, unpacked.stat().st_size
        if size == 0:
            unpacked.unlink(missing_ok=True)
            raise FeedError("The compressed file holds nothing: there is nothing to import.")
    opened: list = []
    counters: list[CountingReader] = []

    def factory() -> io.BufferedReader:
        raw = path.open("rb")
        opened.append(raw)
        counter = CountingReader(raw)
        counters.append(counter)
        return io.BufferedReader(counter, 1 << 16)

    def progress() -> float:
        if not counters:
            return 0.0
        return min(1.0, counters[-1].count / size)

    try:
        yield factory, progress
    finally:
        for obj in reversed(opened):
            try:
                obj.close()
            except Exception:  # noqa: BLE001, S110 - closing is best effort
                pass
        if unpacked is not None:
            unpacked.unlink(missing_ok=True)
