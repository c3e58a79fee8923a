"""Streaming readers for CSV/TSV, JSON Lines and Parquet (optionally .gz for the text formats).

Each reader yields `RawRow(line, fields, error, raw)` one row at a time, so memory stays bounded
whatever the file size. A row that cannot even be parsed (bad bytes, broken JSON, wrong number of
CSV fields, a truncated last line) comes out with `error=(reason, detail)` instead of raising, so
the loader can quarantine it and go on.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from shopsense.errors import DataError

FORMATS = ("csv", "tsv", "jsonl", "parquet")


@dataclass(slots=True)
class RawRow:
    line: int  # 1-based physical line of the row's start (data row index for parquet)
    fields: dict[str, Any] | None
    error: tuple[str, str] | None = None  # (reason code, detail)
    raw: str = ""


def detect_format(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    for ext, fmt in ((".csv", "csv"), (".tsv", "tsv"), (".jsonl", "jsonl"), (".ndjson", "jsonl"),
                     (".json", "jsonl"), (".parquet", "parquet"), (".pq", "parquet")):
        if name.endswith(ext):
            return fmt
    raise DataError(f"cannot tell the format of {path.name!r}", source=str(path),
                    hint="name it .csv, .tsv, .jsonl (JSON Lines) or .parquet, or pass --format")


def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # type: ignore[return-value]


def read_rows(path: Path, fmt: str | None = None, on_bytes: Callable[[int], None] | None = None) -> Iterator[RawRow]:
    fmt = fmt or detect_format(path)
    if fmt in ("csv", "tsv"):
        return _read_csv(path, "\t" if fmt == "tsv" else ",", on_bytes)
    if fmt == "jsonl":
        return _read_jsonl(path, on_bytes)
    if fmt == "parquet":
        return _read_parquet(path, on_bytes)
    raise DataError(f"unknown format {fmt!r}", hint=f"use one of {', '.join(FORMATS)}")


def _decoded_lines(f: io.BufferedIOBase, bad: set[int], on_bytes: Callable[[int], None] | None) -> Iterator[str]:
    """Decode line by line; bytes that are not UTF-8 are kept (surrogateescape) and the line noted."""
    for n, b in enumerate(f, start=1):
        if on_bytes:
            on_bytes(len(b))
        try:
            yield b.decode("utf-8")
        except UnicodeDecodeError:
            bad.add(n)
            yield b.decode("utf-8", "surrogateescape")


def _safe(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _read_csv(path: Path, delimiter: str, on_bytes: Callable[[int], None] | None) -> Iterator[RawRow]:
    bad: set[int] = set()
    with _open_binary(path) as f:
        lines = _decoded_lines(f, bad, on_bytes)
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            header = next(reader)
        except StopIteration:
            yield RawRow(0, None, ("empty_file", "the file has no header and no rows"))
            return
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        header = [h.strip() for h in header]
        width = len(header)
        prev_end = reader.line_num
        n_rows = 0
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as e:  # e.g. an unterminated quote in a truncated last line
                yield RawRow(prev_end + 1, None, ("malformed_row", f"CSV parse error: {e}"))
                break
            start, end = prev_end + 1, reader.line_num
            prev_end = end
            if not row:
                continue  # blank line
            n_rows += 1
            raw = delimiter.join(row)
            if bad and any(n in bad for n in range(start, end + 1)):
                yield RawRow(start, None, ("non_utf8", "bytes that are not valid UTF-8; re-export the file as UTF-8"), _safe(raw))
            elif len(row) != width:
                why = "truncated row" if len(row) < width else "too many fields"
                yield RawRow(start, None, ("malformed_row", f"{why}: {len(row)} fields, header has {width}"), _safe(raw))
            else:
                yield RawRow(start, dict(zip(header, row)), None, raw)
        if n_rows == 0:
            yield RawRow(1, None, ("empty_file", "the file has a header but no rows"))


def _read_jsonl(path: Path, on_bytes: Callable[[int], None] | None) -> Iterator[RawRow]:
    seen_any = False
    with _open_binary(path) as f:
        for n, b in enumerate(f, start=1):
            if on_bytes:
                on_bytes(len(b))
            if not b.strip():
                continue
            seen_any = True
            try:
                text = b.decode("utf-8")
            except UnicodeDecodeError:
                yield RawRow(n, None, ("non_utf8", "bytes that are not valid UTF-8; re-export the file as UTF-8"),
                             b.decode("utf-8", "replace").rstrip("\n"))
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                last = not b.endswith(b"\n")
                why = "truncated last line" if last else "invalid JSON"
                yield RawRow(n, None, ("invalid_json", f"{why}: {e.msg} at column {e.colno}"), text.rstrip("\n"))
                continue
            if not isinstance(obj, dict):
                yield RawRow(n, None, ("invalid_json", f"expected a JSON object per line, got {type(obj).__name__}"),
                             text.rstrip("\n"))
                continue
            yield RawRow(n, obj, None, text.rstrip("\n"))
    if not seen_any:
        yield RawRow(0, None, ("empty_file", "the file has no rows"))


def _read_parquet(path: Path, on_bytes: Callable[[int], None] | None) -> Iterator[RawRow]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as e:
        raise DataError(f"not a readable Parquet file: {e}", source=str(path),
                        hint="check the file is complete (a truncated Parquet file has no footer)") from None
    n = 0
    for batch in pf.iter_batches(batch_size=10_000):
        if on_bytes:
            on_bytes(batch.nbytes)
        for rec in batch.to_pylist():
            n += 1
            yield RawRow(n, rec, None, "")
    if n == 0:
        yield RawRow(0, None, ("empty_file", "the file has no rows"))
