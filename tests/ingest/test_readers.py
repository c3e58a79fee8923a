from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shopsense.errors import DataError
from shopsense.ingest.readers import detect_format, read_rows


def test_csv_rows_and_lines(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text('id,title\n1,"multi\nline title"\n2,plain\n')
    rows = list(read_rows(p))
    assert [r.line for r in rows] == [2, 4]
    assert rows[0].fields == {"id": "1", "title": "multi\nline title"}
    assert rows[1].error is None


def test_tsv_and_gzip(tmp_path):
    p = tmp_path / "a.tsv.gz"
    with gzip.open(p, "wt") as f:
        f.write("id\ttitle\n1\tx\n")
    rows = list(read_rows(p))
    assert rows[0].fields == {"id": "1", "title": "x"}


def test_jsonl_reader(tmp_path):
    p = tmp_path / "a.jsonl"
    p.write_text(json.dumps({"a": 1}) + "\n\n" + json.dumps({"a": 2}) + "\n")
    rows = list(read_rows(p))
    assert [r.fields["a"] for r in rows] == [1, 2]
    assert [r.line for r in rows] == [1, 3]


def test_parquet_reader(tmp_path):
    p = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": ["x", "y"], "price": [1.5, None]}), p)
    rows = list(read_rows(p))
    assert [r.fields for r in rows] == [{"id": "x", "price": 1.5}, {"id": "y", "price": None}]


def test_non_utf8_is_an_error_row_not_an_exception(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(b"id,title\n1,ok\n2,caf\xe9\n3,fine\n")
    rows = list(read_rows(p))
    assert [r.error[0] if r.error else None for r in rows] == [None, "non_utf8", None]


def test_truncated_rows(tmp_path):
    p = tmp_path / "a.csv"
    p.write_text('id,title,price\n1,a,2\n2,"unterminated')
    rows = list(read_rows(p))
    assert rows[0].error is None
    assert rows[-1].error[0] == "malformed_row"
    j = tmp_path / "a.jsonl"
    j.write_text('{"a": 1}\n{"a": ')
    rows = list(read_rows(j))
    assert rows[-1].error[0] == "invalid_json" and "truncated" in rows[-1].error[1]


@pytest.mark.parametrize("name,content", [("e.csv", ""), ("e.jsonl", ""), ("h.csv", "id,title\n")])
def test_empty_files(tmp_path, name, content):
    p = tmp_path / name
    p.write_text(content)
    rows = list(read_rows(p))
    assert len(rows) == 1 and rows[0].error[0] == "empty_file"


def test_unknown_format(tmp_path):
    with pytest.raises(DataError, match="cannot tell the format"):
        detect_format(tmp_path / "x.xlsx")
