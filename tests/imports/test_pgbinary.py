"""The binary COPY of new products (webapp.imports.pgbinary) stores what text would."""

from __future__ import annotations

import pyarrow as pa
import pytest

from webapp.extensions import db
from webapp.imports import pgbinary

AMOUNTS = [
    "0",
    "1",
    "12.5",
    "646.96",
    "0.0001",
    "10000",
    "100000000",
    "1234567890.1",
    "9999999999.9999",
    "0012.50",
    "1e3",
    "1.",
    ".5",
    None,
]


def test_plain_amounts_encode_and_others_are_left_to_the_server():
    assert pgbinary.numeric(pa.array(AMOUNTS)) is not None
    for other in ("12.34567", "-5", "12345678901", "1,5", "n/a", ""):
        assert pgbinary.numeric(pa.array(["1.00", other])) is None, other
    assert pgbinary.numeric(pa.nulls(3, pa.string())).null_count == 3


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_binary_numerics_and_texts_read_as_their_text_does(app, backend):
    rows = len(AMOUNTS)
    titles = ["plain", "é ü ß", 'quote " and ; and \\', "tab\there", "", None, "日本", "x" * 300]
    titles += ["new\nline"] * (rows - len(titles))
    raw = db.engine.raw_connection()
    try:
        conn = raw.driver_connection
        conn.execute("CREATE TEMP TABLE t_bin (k int4, v numeric(14,4), s text, j json, h int8)")
        conn.execute("CREATE TEMP TABLE t_txt (LIKE t_bin)")
        extra = ['{"a": "b"}'] * (rows - 1) + [None]
        payload = b"".join(
            pgbinary.encode(
                [
                    pa.array(range(rows), type=pa.int32()),
                    pgbinary.numeric(pa.array(AMOUNTS)),
                    pa.array(titles),
                    pa.array(extra),
                    pa.array([-(2**63), 2**63 - 1, *range(rows - 2)], type=pa.int64()),
                ],
                ["k", "v", "s", "j", "h"],
            )
        )
        with conn.cursor().copy("COPY t_bin FROM STDIN WITH (FORMAT binary)") as copy:
            copy.write(payload)
        with conn.cursor().copy("COPY t_txt FROM STDIN") as copy:
            hashes = [-(2**63), 2**63 - 1, *range(rows - 2)]
            for k in range(rows):
                copy.write_row((k, AMOUNTS[k], titles[k], extra[k], hashes[k]))
        query = "SELECT k, v::text, s, j::text, h FROM {} ORDER BY k"
        binary = conn.execute(query.format("t_bin")).fetchall()
        assert binary == conn.execute(query.format("t_txt")).fetchall()
        assert binary[3][1] == "646.9600" and binary[-1][1] is None
        conn.rollback()
    finally:
        raw.close()
