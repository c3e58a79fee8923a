"""Streaming, resumable, idempotent ingest of one file into a Store.

- Rows stream from the reader and are validated one by one; every `chunk_size` rows the accepted
  rows, the rejected rows (with file, line and reason) and the run's checkpoint are committed in
  ONE transaction. Memory is bounded by the chunk, whatever the file size.
- A file is identified by its content hash. Ingesting a finished file again does nothing; a run that
  was interrupted resumes after its last committed chunk (so nothing is half-written and nothing is
  written twice). Within and across files, event ids (given, or derived from the event's content)
  and item ids make re-ingest idempotent.
- Raw user ids never reach the store: they are replaced by keyed HMAC pseudonyms before staging.
  Rejected event rows are quarantined with the user id pseudonymised, or — when a row cannot be
  parsed at all — without its raw text (file and line say where to look).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from shopsense.errors import DataError
from shopsense.ingest.config import IngestConfig
from shopsense.ingest.pseudonym import Pseudonymizer
from shopsense.ingest.readers import RawRow, detect_format, read_rows
from shopsense.ingest.schema import EventValidator, ItemValidator, Reject
from shopsense.store.base import Store

KINDS = ("items", "events")


@dataclass
class IngestReport:
    path: str
    kind: str
    status: str  # "done" | "already ingested" | "resumed"
    rows_seen: int = 0
    accepted: int = 0
    updated: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def n_rejected(self) -> int:
        return sum(self.rejected.values())


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _first_columns(path: Path, fmt: str) -> list[str]:
    """Column names, read without loading the file: CSV header, Parquet schema, or the union of keys
    over the first 1,000 JSON lines."""
    if fmt == "parquet":
        import pyarrow.parquet as pq
        return list(pq.read_schema(path).names)
    cols: dict[str, None] = {}
    for k, r in enumerate(read_rows(path, fmt)):
        if r.fields is not None:
            cols.update(dict.fromkeys(r.fields))
            if fmt in ("csv", "tsv") or k >= 1000:
                break
    return list(cols)


def _columnar(kind: str, fmt: str, path: Path) -> bool:
    """Whether the file takes the columnar fast path (plain CSV/TSV event logs)."""
    return kind == "events" and fmt in ("csv", "tsv") and not path.name.lower().endswith(".gz")


def ingest_file(store: Store, path: str | Path, kind: str, *, pseudonymizer: Pseudonymizer,
                config: IngestConfig | None = None, fmt: str | None = None,
                on_chunk: Callable[[int], None] | None = None) -> IngestReport:
    """Load one catalog (`kind="items"`) or events (`kind="events"`) file into `store`.
    `on_chunk(lines_done)` is called after each committed chunk (progress hooks, tests)."""
    cfg = config or IngestConfig()
    path = Path(path)
    if kind not in KINDS:
        raise DataError(f"unknown kind {kind!r}", hint="use 'items' (catalog) or 'events' (behaviour log)")
    if not path.is_file():
        raise DataError("file not found", source=str(path), hint="check the path")
    fmt = fmt or detect_format(path)
    worker = None
    if (_columnar(kind, fmt, path) and cfg.worker_min_bytes is not None
            and path.stat().st_size >= cfg.worker_min_bytes):
        from shopsense.ingest.worker import start_worker, stop_worker

        worker = start_worker()  # big event file: validated in a second process (see ingest.worker)
    try:
        return _ingest(store, path, kind, pseudonymizer, cfg, fmt, on_chunk, worker)
    finally:
        if worker is not None:
            stop_worker(worker)


def _ingest(store: Store, path: Path, kind: str, pseudonymizer: Pseudonymizer, cfg: IngestConfig, fmt: str,
            on_chunk: Callable[[int], None] | None, worker: Any) -> IngestReport:
    sha = file_sha256(path)
    run = store.begin_run(kind, sha, str(path))
    report = IngestReport(str(path), kind, "done")
    if run.status == "done":
        report.status = "already ingested"
        report.accepted, report.updated = run.accepted, run.updated
        return report
    resume_after = run.lines_done
    if resume_after:
        report.status = "resumed"

    columns = _first_columns(path, fmt)
    validator = ItemValidator(columns, cfg) if kind == "items" else EventValidator(columns, cfg, pseudonymizer)
    missing = validator.missing_required()
    if columns and missing:
        raise DataError(f"required column(s) {', '.join(missing)} not found (columns are: {', '.join(columns)})",
                        source=str(path), hint="rename the columns or check you passed the right --kind")
    if kind == "events":
        report.ignored_columns = list(validator.extra)
    user_col = getattr(validator, "map", {}).get("user_id") if kind == "events" else None

    def scrub(fields: dict | None) -> str:
        if fields is None:
            return ""
        if user_col and user_col in fields and fields[user_col] not in (None, ""):
            fields = {**fields, user_col: "hmac:" + pseudonymizer.user(str(fields[user_col]).strip())}
        return json.dumps(fields, ensure_ascii=False, default=str)[:10_000]

    from tqdm import tqdm

    total = path.stat().st_size if fmt != "parquet" else None
    bar = tqdm(total=total, unit="B", unit_scale=True, desc=f"ingest {kind} {path.name}",
               disable=not cfg.progress, leave=False)
    rows: list[tuple] = []
    rejects: list[tuple] = []
    last_line = resume_after

    # One writer thread commits chunk k while the main thread parses and validates chunk k+1
    # (SQLite releases the GIL while it works). At most one chunk waits, so memory stays bounded.
    from concurrent.futures import Future, ThreadPoolExecutor

    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shopsense-ingest")
    pending: list[Future] = []

    def settle() -> None:
        while pending:
            fut = pending.pop(0)
            res, done_line = fut.result()  # re-raises a failed commit here, in the caller
            report.accepted += res.accepted
            report.updated += res.updated
            for r, n in res.rejected.items():
                report.rejected[r] = report.rejected.get(r, 0) + n
            if on_chunk:
                on_chunk(done_line)

    def commit(chunk_rows: Any, chunk_rejects: list[tuple], upto: int) -> tuple:
        return store.commit_chunk(run, chunk_rows, chunk_rejects, upto), upto

    def flush(block: Any = None, block_rejects: list[tuple] | None = None) -> None:
        """Commit the buffered rows, or a whole block from the fast path (columns, passed as is)."""
        settle()
        if block is None:
            block, block_rejects = rows.copy(), rejects.copy()
            rows.clear()
            rejects.clear()
        pending.append(writer.submit(commit, block, block_rejects, last_line))

    try:
        if _columnar(kind, fmt, path):
            from shopsense.ingest.columnar import Fallback, event_chunks
            from shopsense.ingest.worker import event_chunks_in_worker

            delim = "\t" if fmt == "tsv" else ","
            if worker is not None:
                blocks = event_chunks_in_worker(path, columns, cfg, pseudonymizer.key_bytes, resume_after,
                                                cfg.block_bytes, delim, worker)
            else:
                blocks = event_chunks(path, validator, resume_after, block_size=cfg.block_bytes,  # type: ignore[arg-type]
                                      delimiter=delim)
            try:
                bar.reset(total=None)  # blocks are parsed by pyarrow: count rows, not bytes
                bar.unit, bar.unit_scale = "row", True
                for crow, crej, cline in blocks:
                    report.rows_seen += len(crow) + len(crej)
                    last_line = max(last_line, cline)
                    flush(crow, crej)
                    bar.update(len(crow) + len(crej))
            except Fallback:
                # the fast path stops at its last committed chunk; the row path resumes from there
                settle()
                rows.clear()
                rejects.clear()
                resume_after = last_line = run.lines_done
            else:
                settle()
                store.finish_run(run)
                return report
        raw: RawRow
        for raw in read_rows(path, fmt, on_bytes=bar.update if total else None):
            if raw.line <= resume_after and raw.line > 0:
                continue
            report.rows_seen += 1
            if raw.error is not None:
                reason, detail = raw.error
                text = raw.raw if kind == "items" else ""
                rejects.append((raw.line, reason, None, detail, text))
            else:
                out = validator(raw.fields)  # type: ignore[arg-type]
                if isinstance(out, Reject):
                    text = raw.raw if kind == "items" else scrub(raw.fields)
                    rejects.append((raw.line, out.reason, out.field, out.detail, text))
                else:
                    rows.append((raw.line, *out))
            last_line = max(last_line, raw.line)
            if len(rows) + len(rejects) >= cfg.chunk_size:
                flush()
        if rows or rejects or last_line > run.lines_done:
            flush()
        settle()
    finally:
        bar.close()
        writer.shutdown(wait=True)  # a chunk in flight finishes (or rolls back) before we return
    store.finish_run(run)
    return report
