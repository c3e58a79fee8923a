"""Read side of the SQLite store: items, the columnar Dataset, stats."""

from __future__ import annotations

import json
import logging
from typing import Any, Iterator

import numpy as np

from shopsense.types import EVENT_NAMES, Dataset, Events, Item, Vocabulary

log = logging.getLogger(__name__)

_TABLES = {"items", "events", "users", "quarantine", "ingest_runs", "event_flags", "item_fills", "audit", "merges"}


def row_to_item(r: tuple) -> Item:
    return Item(item_id=r[0], title=r[1], description=r[2] or "", category=json.loads(r[3]) if r[3] else [],
                brand=r[4] or "", price=r[5], rating=r[6], attributes=json.loads(r[7]) if r[7] else {}, stock=r[8])


def sessionise(user: np.ndarray, ts: np.ndarray, given: np.ndarray, gap_s: float) -> np.ndarray:
    """Session index per event: the given session where there is one; otherwise a new session starts
    at a user's first event and after every gap longer than `gap_s`. Derived ids are negative - 2 so
    they never collide with given ones (given >= 0, -1 reserved for 'none')."""
    out = given.copy()
    need = given < 0
    if not need.any():
        return out
    order = np.lexsort((ts, user))
    u, t = user[order], ts[order]
    new = np.ones(len(u), dtype=bool)
    new[1:] = (u[1:] != u[:-1]) | ((t[1:] - t[:-1]) > gap_s)
    sid = np.cumsum(new) - 1
    derived = np.empty_like(sid)
    derived[order] = sid
    out[need] = -2 - derived[need]
    return out


class ReadsMixin:
    conn: Any
    lock: Any

    def count(self, table: str) -> int:
        if table not in _TABLES:
            raise ValueError(f"unknown table {table!r}; one of {sorted(_TABLES)}")
        with self.lock:
            return self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]

    def iter_items(self, include_merged: bool = False) -> Iterator[Item]:
        q = "SELECT item_id, title, description, category, brand, price, rating, attributes, stock FROM items"
        if not include_merged:
            q += " WHERE merged_into IS NULL"
        with self.lock:
            rows = self.conn.execute(q + " ORDER BY item_id").fetchall()
        for r in rows:
            yield row_to_item(r)

    def get_item(self, item_id: str) -> Item | None:
        with self.lock:
            r = self.conn.execute("SELECT item_id, title, description, category, brand, price, rating, attributes, stock "
                                  "FROM items WHERE item_id=?", (item_id,)).fetchone()
        return row_to_item(r) if r else None

    def load_dataset(self, include_flagged: bool = False, session_gap_minutes: float = 30.0) -> Dataset:
        """The catalog and its events as one columnar Dataset. Events flagged by a quality detector are
        left out unless `include_flagged` (they stay in the store); events on merged duplicates count
        for the canonical item; events on items not in the catalog are left out and counted in the log."""
        items = list(self.iter_items())
        vocab = Vocabulary(i.item_id for i in items)
        with self.lock:
            merged = dict(self.conn.execute("SELECT item_id, merged_into FROM items WHERE merged_into IS NOT NULL").fetchall())
            q = "SELECT event_id, user_key, item_id, type, value, query, ts, session FROM events"
            if not include_flagged:
                q += " WHERE event_id NOT IN (SELECT event_id FROM event_flags)"
            rows = self.conn.execute(q + " ORDER BY ts, event_id").fetchall()
        users, sessions = Vocabulary(), Vocabulary()
        n = len(rows)
        eid = np.empty(n, np.int64)
        user = np.empty(n, np.int64)
        item = np.empty(n, np.int64)
        etype = np.empty(n, np.int8)
        value = np.empty(n, np.float32)
        ts = np.empty(n, np.float64)
        sess = np.empty(n, np.int64)
        query: list[str | None] = [None] * n
        keep = np.ones(n, dtype=bool)
        unknown = 0
        for k, (e, u, it, ty, v, qy, t, s) in enumerate(rows):
            eid[k] = e
            user[k] = users.add(u)
            if it is None:
                item[k] = -1
            else:
                row = vocab.get(merged.get(it, it))
                if row < 0:
                    unknown += 1
                    keep[k] = False
                item[k] = row
            etype[k] = ty
            value[k] = np.nan if v is None else v
            ts[k] = t
            sess[k] = sessions.add(s) if s is not None else -1
            query[k] = qy
        if unknown:
            log.warning("%d events refer to items not in the catalog and were left out of the dataset "
                        "(they stay in the store; ingest the catalog rows for them)", unknown)
        sess = sessionise(user, ts, sess, session_gap_minutes * 60.0)
        ev = Events(user, item, etype, value, ts, sess, query, eid)
        if unknown:
            ev = ev.subset(keep)
        return Dataset(items, ev, vocab, users, sessions, name="store")

    def stats(self) -> dict[str, Any]:
        with self.lock:
            c = self.conn
            out: dict[str, Any] = {t: c.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                                   for t in ("items", "events", "users", "quarantine")}
            lo, hi = c.execute("SELECT MIN(ts), MAX(ts) FROM events").fetchone()
            out["event_time_range"] = (lo, hi)
            out["event_types"] = {EVENT_NAMES[t]: n for t, n in c.execute("SELECT type, COUNT(*) FROM events GROUP BY type ORDER BY 2 DESC")}
            cats: dict[str, int] = {}
            for (cat,) in c.execute("SELECT category FROM items WHERE merged_into IS NULL"):
                path = json.loads(cat) if cat else []
                key = path[0] if path else "(none)"
                cats[key] = cats.get(key, 0) + 1
            out["top_categories"] = sorted(cats.items(), key=lambda kv: -kv[1])[:10]
            out["quarantine_reasons"] = dict(c.execute("SELECT reason, COUNT(*) FROM quarantine GROUP BY reason ORDER BY 2 DESC").fetchall())
            out["events_on_unknown_items"] = c.execute(
                "SELECT COUNT(*) FROM events e WHERE e.item_id IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM items i WHERE i.item_id = e.item_id)").fetchone()[0]
            out["flagged_events"] = c.execute("SELECT COUNT(DISTINCT event_id) FROM event_flags").fetchone()[0]
            out["price_range"] = c.execute("SELECT MIN(price), MAX(price) FROM items").fetchone()
        return out
