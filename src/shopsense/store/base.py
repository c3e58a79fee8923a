"""The Store protocol: what every backend offers. Callers never write SQL; they call these.

`sqlite:///path` is the embedded default; a `postgresql://` backend implements the same protocol
(the SQL here is kept to what both dialects share where it matters, and the staging / upsert steps
are methods, so a backend can use COPY or ON CONFLICT as it likes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Protocol, Sequence, runtime_checkable

from shopsense.types import Dataset, Event, Item


@dataclass
class RunState:
    """One ingest of one file (keyed by its content hash and kind)."""

    file_sha: str
    kind: str  # "items" | "events"
    path: str
    status: str  # "running" | "done"
    lines_done: int = 0
    accepted: int = 0
    rejected: int = 0
    updated: int = 0


@dataclass
class ChunkResult:
    accepted: int = 0
    updated: int = 0
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass
class EventColumns:
    """Validated events as columns, in the store's row layout: what the ingest fast path hands to
    `commit_chunk` so a backend can store a block without building one tuple per row (on 1M events the
    tuples cost ~1.5 s of the writer's time). `rows()` gives the tuple form,
    (line, event_id, user_key, item_id, type, value, query, ts, session), for the general path."""

    line: list[int]
    event_id: list[int]
    user_key: list[str]
    item_id: list[str | None]
    type: list[int]
    value: list[float | None]
    query: list[str | None]
    ts: list[float]
    session: list[str | None]

    def __len__(self) -> int:
        return len(self.line)

    def rows(self) -> list[tuple]:
        return list(zip(self.line, self.event_id, self.user_key, self.item_id, self.type, self.value, self.query,
                        self.ts, self.session))

    @classmethod
    def from_rows(cls, rows: Sequence[tuple]) -> "EventColumns":
        cols = [list(c) for c in zip(*rows)] if rows else [[] for _ in range(9)]
        return cls(*cols)


@dataclass
class QuarantineRow:
    kind: str
    source: str
    line: int
    reason: str
    field: str | None
    detail: str
    raw: str


@runtime_checkable
class Store(Protocol):
    url: str

    # --- ingest (each chunk is one transaction together with the run's checkpoint) ---
    def begin_run(self, kind: str, file_sha: str, path: str) -> RunState: ...
    def commit_chunk(self, run: RunState, rows: Sequence[tuple] | EventColumns, rejects: Sequence[tuple],
                     lines_done: int) -> ChunkResult: ...
    def finish_run(self, run: RunState) -> None: ...
    def quarantine_rows(self, reason: str | None = None, limit: int = 100) -> list[QuarantineRow]: ...

    # --- reads ---
    def count(self, table: str) -> int: ...
    def iter_items(self, include_merged: bool = False) -> Iterator[Item]: ...
    def get_item(self, item_id: str) -> Item | None: ...
    def load_dataset(self, include_flagged: bool = False) -> Dataset: ...
    def stats(self) -> dict[str, Any]: ...

    # --- real-time writes ---
    def add_events(self, events: Iterable[Event]) -> int: ...
    def add_new_events(self, events: Iterable[Event], origin: str | None = None) -> list[Event]: ...

    # --- live log: what several live servers on one store must share ---
    def log_live(self, origin: str, kind: str, user_key: str | None = None) -> None: ...
    def live_head(self) -> int: ...
    def live_since(self, seq: int, limit: int = 10_000) -> list[tuple]: ...
    def trim_live(self, older_than_s: float) -> int: ...
    def upsert_items(self, items: Iterable[Item]) -> int: ...

    # --- quality hooks (nothing is deleted: flags, fills and merges sit beside the data) ---
    def flag_events(self, rows: Iterable[tuple[int, str, float, str]]) -> int: ...
    def record_fills(self, rows: Iterable[tuple[str, str, str, float, str]]) -> int: ...
    def add_audit(self, action: str, target: str, detail: dict[str, Any]) -> None: ...
    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]: ...
    def merge_items(self, canonical_id: str, duplicate_ids: Sequence[str]) -> int: ...
    def unmerge(self, merge_id: int) -> None: ...

    # --- privacy ---
    def delete_user(self, user_key: str) -> int: ...

    def close(self) -> None: ...
