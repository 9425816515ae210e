"""Real compression bombs, made in a second or two: a few MB of gzip or zip that unpack to
GiBs of zeros (and are valid archives: the sizes and CRC-32 are right)."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

CHUNK = 64 << 20  # zeros compressed once, repeated


def gzip_bomb(path: Path, gib: int = 6) -> Path:
    """Concatenated gzip members (one stream to every reader) of 64 MiB of zeros each."""
    member = gzip.compress(bytes(CHUNK), 9)
    path.write_bytes(member * (gib * 16))
    return path


def _times(matrix: list[int], vector: int) -> int:
    total, i = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[i]
        vector >>= 1
        i += 1
    return total


def _square(matrix: list[int]) -> list[int]:
    return [_times(matrix, matrix[n]) for n in range(32)]


def crc32_combine(crc1: int, crc2: int, len2: int) -> int:
    """zlib's crc32_combine: the CRC-32 of A + B from those of A and B and B's length."""
    if len2 == 0:
        return crc1
    odd = [0xEDB88320] + [1 << n for n in range(31)]
    even = _square(odd)
    odd = _square(even)
    while True:
        even = _square(odd)
        if len2 & 1:
            crc1 = _times(even, crc1)
        len2 >>= 1
        if not len2:
            break
        odd = _square(even)
        if len2 & 1:
            crc1 = _times(odd, crc1)
        len2 >>= 1
        if not len2:
            break
    return crc1 ^ crc2


def zip_bomb(path: Path, gib: int = 6, name: str = "feed.csv", declared: int | None = None):
    """A ZIP64 archive of one deflated file of ``gib`` GiB of zeros.  ``declared``: the
    uncompressed size its headers claim instead of the true one (a lying archive)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    # A full flush ends the chunk on a byte, with no reference to what came before: the
    # same bytes repeated inflate to the chunk again and again.
    block = compressor.compress(bytes(CHUNK)) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = gib * 16
    data = block * count + compressor.flush(zlib.Z_FINISH)
    size = CHUNK * count
    chunk_crc = zlib.crc32(bytes(CHUNK))
    crc = chunk_crc
    for _ in range(count - 1):
        crc = crc32_combine(crc, chunk_crc, CHUNK)
    size = size if declared is None else declared
    encoded = name.encode()
    zip64 = struct.pack("<HHQQ", 1, 16, size, len(data))
    local = (
        struct.pack(
            "<IHHHHHIIIHH",
            0x04034B50,
            45,
            0,
            8,
            0,
            0x21,
            crc,
            0xFFFFFFFF,
            0xFFFFFFFF,
            len(encoded),
            len(zip64),
        )
        + encoded
        + zip64
    )
    central = (
        struct.pack(
            "<IHHHHHHIIIHHHHHII",
            0x02014B50,
            45,
            45,
            0,
            8,
            0,
            0x21,
            crc,
            0xFFFFFFFF,
            0xFFFFFFFF,
            len(encoded),
            len(zip64),
            0,
            0,
            0,
            0,
            0,
        )
        + encoded
        + zip64
    )
    offset = len(local) + len(data)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), offset, 0)
    with path.open("wb") as out:
        out.write(local)
        out.write(data)
        out.write(central)
        out.write(end)
    return path
