"""Stores, opened by URL: ``sqlite:///path/shop.db`` (embedded default, WAL, transactions).
A ``postgresql://`` backend can follow behind the same `Store` protocol without touching callers."""

from __future__ import annotations

from shopsense.errors import ConfigError
from shopsense.store.base import ChunkResult, QuarantineRow, RunState, Store

__all__ = ["open_store", "Store", "RunState", "ChunkResult", "QuarantineRow"]


def open_store(url: str) -> Store:
    if url.startswith("sqlite:///") or url == "sqlite://:memory:":
        from shopsense.store.sqlite import SqliteStore

        path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else ":memory:"
        return SqliteStore(path)
    if url.startswith(("postgresql://", "postgres://")):
        raise ConfigError("the postgresql:// store backend is not built yet — use sqlite:///path/shop.db")
    raise ConfigError(f"unsupported store URL {url!r} — use sqlite:///path/to/shop.db")
