"""Column-wise fast path for event CSV files.

Event logs are the big files (millions of rows), and per-row Python validation is several times
slower than a C CSV parser. Here pyarrow parses blocks, and validation, pseudonymisation and
content ids are done per column with numpy / pyarrow compute; only values that the vectorised parse
cannot settle (unusual timestamp formats, odd numbers, bad rows) go through the same per-row
validator as the row path, so both paths accept and reject exactly the same rows with the same
reasons and the same ids. Anything the fast path cannot vouch for (bytes that are not UTF-8, a
pyarrow parse error) raises `Fallback`, and the loader continues on the row path from the last
committed line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from shopsense.ingest.eventkey import NONE
from shopsense.ingest.schema import MIN_TS, EventValidator, Reject
from shopsense.store.base import EventColumns
from shopsense.types import EVENT_ALIASES, EVENT_CODES


class Fallback(Exception):
    """The fast path cannot handle this file (from this point); use the row path."""


def event_chunks(path: Path, v: EventValidator, resume_after: int, block_size: int = 1 << 22,
                 delimiter: str = ",") -> Iterator[tuple[EventColumns, list[tuple], int]]:
    """Yield (rows as columns, rejects, last_line) per parsed block, skipping lines <= resume_after."""
    for block, rejects, last_line in event_blocks(path, v, resume_after, block_size, delimiter):
        yield block_rows(block), rejects, last_line


def event_blocks(path: Path, v: EventValidator, resume_after: int, block_size: int = 1 << 22,
                 delimiter: str = ",") -> Iterator[tuple[dict[str, Any], list[tuple], int]]:
    """Yield (block, rejects, last_line) per parsed block: `block` holds the accepted rows as columns
    (numpy arrays and dictionary-encoded strings: cheap to send to another process); `block_rows`
    turns it into store rows."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    invalid: list[tuple[int, str, int, int]] = []

    def on_invalid(row: Any) -> str:
        if row.number is None or '"' in (row.text or ""):
            raise Fallback("ambiguous malformed row")
        invalid.append((row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    with open(path, "rb") as f:
        header_line = f.readline()
    try:
        header = [h.strip() for h in header_line.decode("utf-8").lstrip("\ufeff").rstrip("\r\n").split(delimiter)]
    except UnicodeDecodeError:
        raise Fallback("header is not UTF-8") from None
    if any('"' in h for h in header) or not header_line.endswith(b"\n"):
        raise Fallback("quoted or unterminated header")
    reader = pcsv.open_csv(
        path,
        read_options=pcsv.ReadOptions(use_threads=False, block_size=block_size, column_names=header, skip_rows=1),
        parse_options=pcsv.ParseOptions(delimiter=delimiter, newlines_in_values=True, ignore_empty_lines=False,
                                        invalid_row_handler=on_invalid),
        convert_options=pcsv.ConvertOptions(column_types={h: pa.string() for h in header}, strings_can_be_null=False,
                                            check_utf8=True))
    line = 2  # physical line of the next row
    m = v.map
    memos = {"user_id": _Memo(v.pseudo.user_parts_many), "item_id": _Memo(_raw_texts(v)), "query": _Memo(_raw_texts(v))}
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as e:  # e.g. bytes that are not UTF-8: let the row path find the rows
            raise Fallback(str(e)) from None
        n = batch.num_rows
        # physical line of every row: rows before it, embedded newlines before it, skipped invalid rows
        nl = np.zeros(n, np.int64)
        for c in batch.columns:
            nl += pc.count_substring(c, "\n").to_numpy(zero_copy_only=False)
        starts = np.empty(n, np.int64)
        if n:
            starts[0] = 0
            np.cumsum(1 + nl[:-1], out=starts[1:])
        starts += line
        bad = sorted(x for x in invalid if x[0] >= line)
        if bad:  # shift rows that come after skipped invalid rows
            bad_lines = np.array([b[0] for b in bad])
            for k in range(len(bad_lines)):
                starts[starts >= bad_lines[k]] += 1
        rejects: list[tuple] = [(ln, "malformed_row", None,
                                 f"{'truncated row' if act < exp else 'too many fields'}: {act} fields, header has {exp}", "")
                                for ln, _t, exp, act in bad if ln > resume_after]
        invalid.clear()
        line = int(starts[-1] + 1 + nl[-1]) if n else line
        last_line = max(line - 1, max((b[0] for b in bad), default=0))
        keep = starts > resume_after
        if not keep.any():
            if rejects:
                yield {}, rejects, last_line
            continue
        block, more = _validate_block(batch, starts, keep, v, m, pc, memos)
        yield block, rejects + more, last_line


def _validate_block(batch: Any, starts: np.ndarray, keep: np.ndarray, v: EventValidator, m: dict[str, str],
                    pc: Any, memos: dict[str, "_Memo"]) -> tuple[dict[str, Any], list[tuple]]:
    n = batch.num_rows
    col = {k: batch.column(c) for k, c in m.items()}
    stripped = {k: pc.utf8_trim_whitespace(c) for k, c in col.items()}
    empty = {k: pc.equal(c, "").to_numpy(zero_copy_only=False) for k, c in stripped.items()}
    ok = keep.copy()
    all_empty = np.ones(n, bool)
    for c in batch.columns:
        all_empty &= pc.equal(c, "").to_numpy(zero_copy_only=False)
    ok &= ~all_empty  # blank lines are not rows
    slow = np.zeros(n, bool)  # rows the per-row validator must settle (it also writes the reject)

    # type: map the few distinct spellings through the alias table
    types = stripped["type"].dictionary_encode()
    codes_of = np.array([EVENT_CODES.get(EVENT_ALIASES.get(str(t).lower(), ""), -1) for t in types.dictionary.to_pylist()],
                        dtype=np.int64)
    code = codes_of[types.indices.to_numpy(zero_copy_only=False)] if len(codes_of) else np.full(n, -1)
    slow |= code < 0
    slow |= empty["user_id"] | empty["timestamp"]
    # timestamps: the common ISO form vectorised, epoch numbers cast; the rest per row
    tsc = stripped["timestamp"]
    iso = pc.strptime(tsc, format="%Y-%m-%dT%H:%M:%SZ", unit="us", error_is_null=True)
    ts = pc.cast(iso, "int64").to_numpy(zero_copy_only=False) / 1e6 if iso.null_count < n else np.full(n, np.nan)
    if iso.null_count:
        ts = np.where(pc.is_null(iso).to_numpy(zero_copy_only=False), np.nan, ts)
    num_mask = pc.match_substring_regex(tsc, r"^\d+(\.\d+)?$").to_numpy(zero_copy_only=False)
    if num_mask.any():
        num = np.array([float(x) if ok_ else np.nan for x, ok_ in zip(tsc.to_pylist(), num_mask)])
        num = np.where(num > 1e11, num / 1000.0, num)
        ts = np.where(num_mask, num, ts)
    slow |= np.isnan(ts) | (ts < MIN_TS) | (ts > v.now + 86_400)
    # value: numbers where present; anything else per row
    value = np.full(n, np.nan)
    if "value" in col:
        vc = stripped["value"]
        vnum = pc.match_substring_regex(vc, r"^-?\d+(\.\d+)?$").to_numpy(zero_copy_only=False)
        has = ~empty["value"]
        slow |= has & ~vnum
        if vnum.any():
            value = np.array([float(x) if f else np.nan for x, f in zip(vc.to_pylist(), vnum)])
        slow |= (code == EVENT_CODES["rating"]) & (np.isnan(value) | (value < 0) | (value > v.cfg.max_rating))
    item_empty = empty.get("item_id", np.ones(n, bool))
    query_empty = empty.get("query", np.ones(n, bool))
    is_search = code == EVENT_CODES["search"]
    slow |= (is_search & query_empty) | (~is_search & item_empty)
    if "query" in col:
        slow |= pc.utf8_length(stripped["query"]).to_numpy(zero_copy_only=False) > v.cfg.max_text_len
    slow &= ok
    fast = ok & ~slow
    rows: list[tuple] = []
    rejects: list[tuple] = []
    # per-row path for the few rows the vectorised checks could not settle
    if slow.any():
        names = list(m.values())
        at = np.flatnonzero(slow)
        some = batch.take(at)  # only these rows as Python values (whole columns cost ~0.2 s per 1M rows)
        pyl = {c: some.column(c).to_pylist() for c in names}
        for k, i in enumerate(at.tolist()):
            fields = {c: pyl[c][k] for c in names}
            out = v(fields)
            if isinstance(out, Reject):
                ucol = m["user_id"]
                scrub = {**fields, ucol: "hmac:" + v.pseudo.user(fields[ucol].strip())} if fields[ucol].strip() else fields
                rejects.append((int(starts[i]), out.reason, out.field, out.detail, json.dumps(scrub, ensure_ascii=False)[:10_000]))
            else:
                rows.append((int(starts[i]), *out))
    idx = np.flatnonzero(fast)
    block = _fast_columns(stripped, idx, starts, code, ts, value, v, pc, memos) if len(idx) else {}
    if rows:
        block["slow"] = rows
    return block, rejects


SEP = "\x1f"  # joins a packed text column (see pack_block); a column holding it is sent unpacked
_TEXT = ("user", "item", "query", "session")


def pack_block(block: dict[str, Any]) -> dict[str, Any]:
    """A block for the pipe to the writer process: each text column with many distinct values expanded
    to one string per row and joined with SEP, so the writer gets the column back with one C-level
    `str.split` instead of unpickling the distinct strings and expanding them per row (measured on 1M
    events: ~1.3 s of the writer, which is the slower of the two processes)."""
    out = dict(block)
    for name in _TEXT:
        if name not in block:
            continue
        shown, codes = block[name]
        if len(codes) == 0 or len(shown) * 4 < len(codes):  # few distinct values: the codes are cheaper
            continue
        uniq = np.asarray(shown, dtype=object)
        col = uniq[codes]
        nulls = np.flatnonzero(np.equal(uniq, None)[codes])
        col[nulls] = ""
        joined = SEP.join(col.tolist())
        if joined.count(SEP) == len(col) - 1:  # no value contains the separator itself
            out[name] = ("joined", joined, nulls)
    return out


def _column(packed: tuple) -> list[Any]:
    if isinstance(packed[0], str) and packed[0] == "joined":
        values: list[Any] = packed[1].split(SEP)
        for i in packed[2].tolist():
            values[i] = None
        return values
    uniq, codes = packed
    return np.asarray(uniq, dtype=object)[codes].tolist()


def block_rows(block: dict[str, Any]) -> EventColumns:
    """The block's store rows (line, event_id, user_key, item_id, type, value, query, ts, session) as
    columns, in line order: the vectorised rows plus the few the per-row validator settled."""
    slow = block.get("slow", [])
    if "line" not in block:
        return EventColumns.from_rows(slow)
    value = block["value"]
    nan = np.isnan(value)
    if nan.any():
        value = value.astype(object)
        value[nan] = None
    cols = EventColumns(block["line"].tolist(), block["event_id"].tolist(), _column(block["user"]),
                        _column(block["item"]), block["type"].tolist(), value.tolist(), _column(block["query"]),
                        block["ts"].tolist(), _column(block["session"]))
    if slow:  # rare: merge in line order (the first copy of a duplicate is the one kept)
        return EventColumns.from_rows(sorted([*cols.rows(), *slow], key=lambda r: r[0]))
    return cols


class _Memo:
    """(stored value, 64-bit key component) per distinct string, kept across blocks and looked up with
    pyarrow's `index_in` (C) rather than a Python dict lookup per value: shoppers and items come back
    block after block (on 1M events the per-value lookups took ~1 s of the validation worker)."""

    LIMIT = 1 << 19

    def __init__(self, compute: Any) -> None:
        self.compute = compute  # list[str] -> (list of stored values, uint64 array)
        self._reset()

    def _reset(self) -> None:
        import pyarrow as pa

        self.known = pa.array([], pa.string())
        self.shown = np.empty(0, object)
        self.comp = np.empty(0, np.uint64)

    def lookup(self, values: Any) -> tuple[np.ndarray, np.ndarray]:
        """`values`: a pyarrow string array of distinct, non-empty strings."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if len(self.known) + len(values) > self.LIMIT:  # bounded memory: start over
            self._reset()
        pos = pc.index_in(values, value_set=self.known)
        miss = pos.is_null()
        at = pos.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        if len(values) and pc.any(miss).as_py():
            new = values.filter(miss)
            shown, comp = self.compute(new.to_pylist())
            at[at < 0] = np.arange(len(self.known), len(self.known) + len(new))
            self.known = pa.concat_arrays([self.known, new])
            self.shown = np.concatenate([self.shown, np.array(shown, dtype=object)])
            self.comp = np.concatenate([self.comp, np.asarray(comp, dtype=np.uint64)])
        return self.shown[at], self.comp[at]


def _raw_texts(v: EventValidator) -> Any:
    """Compute function for texts stored as they are (items, queries): the value and its keyed hash."""
    return lambda values: (values, v.pseudo.keys.texts(values))


def _fast_columns(stripped: dict[str, Any], idx: np.ndarray, starts: np.ndarray, code: np.ndarray, ts: np.ndarray,
                  value: np.ndarray, v: EventValidator, pc: Any, memos: dict[str, _Memo]) -> dict[str, Any]:
    """Columns of the rows that passed every vectorised check. Text columns are dictionary-encoded,
    so each distinct user / item / session is hashed and pseudonymised once (users, items and queries
    once per file, through `memos`)."""
    import pyarrow as pa

    keys = v.pseudo.keys
    sel = pa.array(idx)
    n = len(idx)

    def encode(name: str) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """(64-bit key component per row, (distinct stored values, code per row)); an empty value is
        stored as NULL with the NONE component."""
        if name not in stripped:
            return np.full(n, NONE, dtype=np.uint64), ([None], np.zeros(n, np.int32))
        d = pc.take(stripped[name], sel).dictionary_encode()
        dic = d.dictionary
        codes = d.indices.to_numpy(zero_copy_only=False)
        present = pc.greater(pc.utf8_length(dic), 0).fill_null(False)
        shown = np.full(len(dic), None, dtype=object)
        hashes = np.full(len(dic), NONE, dtype=np.uint64)
        mask = present.to_numpy(zero_copy_only=False)
        if mask.any():
            vals = dic.filter(present)
            if name in memos:
                shown[mask], hashes[mask] = memos[name].lookup(vals)
            else:  # sessions: rarely seen in two blocks, not worth remembering
                sh, hs = v.pseudo.session_parts_many(vals.to_pylist())
                shown[mask], hashes[mask] = np.array(sh, dtype=object), hs
        return hashes[codes], (shown, codes)

    hu, users = encode("user_id")
    hi, items = encode("item_id")
    hq, queries = encode("query")
    hs, sessions = encode("session_id")
    t, val, cd = ts[idx], value[idx], code[idx]
    eids = keys.event_keys(hu, hi, cd, t, val, hq, hs)
    if "event_id" in stripped:
        given = pc.take(stripped["event_id"], sel).to_pylist()
        if any(given):
            eids = np.array([keys.given_key(g) if g else e for g, e in zip(given, eids.tolist())], dtype=np.int64)
    return {"line": starts[idx], "event_id": eids, "user": users, "item": items, "type": cd, "value": val,
            "query": queries, "ts": t, "session": sessions}
