"""Quality hooks of the SQLite store. Nothing here deletes data: flags, fills and merges are kept
beside the rows they concern, every action is audited, and merges can be undone."""

from __future__ import annotations

import json
import time
from typing import Any, Iterable, Sequence

from shopsense.errors import UnknownIdError


class QualityMixin:
    conn: Any
    lock: Any

    def _tx(self): ...  # provided by SqliteStore

    def flag_events(self, rows: Iterable[tuple[int, str, float, str]]) -> int:
        now = time.time()
        data = [(int(e), d, float(s), r, now) for e, d, s, r in rows]
        with self._tx() as c:
            c.executemany("INSERT INTO event_flags VALUES (?,?,?,?,?) ON CONFLICT(event_id, detector) DO UPDATE "
                          "SET score=excluded.score, reason=excluded.reason, created_at=excluded.created_at", data)
        return len(data)

    def clear_flags(self, detector: str) -> int:
        with self._tx() as c:
            return c.execute("DELETE FROM event_flags WHERE detector=?", (detector,)).rowcount

    def record_fills(self, rows: Iterable[tuple[str, str, str, float, str]]) -> int:
        now = time.time()
        data = [(i, f, v if isinstance(v, str) else json.dumps(v), float(conf), src, now) for i, f, v, conf, src in rows]
        with self._tx() as c:
            c.executemany("INSERT INTO item_fills VALUES (?,?,?,?,?,?) ON CONFLICT(item_id, field) DO UPDATE "
                          "SET value=excluded.value, confidence=excluded.confidence, source=excluded.source, "
                          "created_at=excluded.created_at", data)
        return len(data)

    def fills(self) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.conn.execute("SELECT item_id, field, value, confidence, source FROM item_fills ORDER BY item_id").fetchall()
        return [dict(zip(("item_id", "field", "value", "confidence", "source"), r)) for r in rows]

    def add_audit(self, action: str, target: str, detail: dict[str, Any]) -> None:
        with self._tx() as c:
            c.execute("INSERT INTO audit (ts, action, target, detail) VALUES (?,?,?,?)",
                      (time.time(), action, target, json.dumps(detail, default=str)))

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.lock:
            rows = self.conn.execute("SELECT id, ts, action, target, detail FROM audit ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [{"id": i, "ts": t, "action": a, "target": g, "detail": json.loads(d) if d else {}} for i, t, a, g, d in rows]

    def merge_items(self, canonical_id: str, duplicate_ids: Sequence[str]) -> int:
        """Mark duplicates as merged into the canonical item (rows stay; undo with `unmerge`)."""
        dups = [d for d in duplicate_ids if d != canonical_id]
        with self._tx() as c:
            for iid in [canonical_id, *dups]:
                if c.execute("SELECT 1 FROM items WHERE item_id=?", (iid,)).fetchone() is None:
                    raise UnknownIdError("item", iid, "merge only items that are in the catalog")
            c.executemany("UPDATE items SET merged_into=? WHERE item_id=?", [(canonical_id, d) for d in dups])
            mid = c.execute("INSERT INTO merges (canonical, duplicates, ts) VALUES (?,?,?)",
                            (canonical_id, json.dumps(dups), time.time())).lastrowid
            c.execute("INSERT INTO audit (ts, action, target, detail) VALUES (?,?,?,?)",
                      (time.time(), "merge_items", canonical_id, json.dumps({"merge_id": mid, "duplicates": dups})))
        return int(mid)

    def unmerge(self, merge_id: int) -> None:
        with self._tx() as c:
            row = c.execute("SELECT canonical, duplicates, undone FROM merges WHERE merge_id=?", (merge_id,)).fetchone()
            if row is None:
                raise UnknownIdError("merge", str(merge_id), "see `shopsense quality` audit for merge ids")
            if row[2] is not None:
                return
            dups = json.loads(row[1])
            c.executemany("UPDATE items SET merged_into=NULL WHERE item_id=? AND merged_into=?", [(d, row[0]) for d in dups])
            c.execute("UPDATE merges SET undone=? WHERE merge_id=?", (time.time(), merge_id))
            c.execute("INSERT INTO audit (ts, action, target, detail) VALUES (?,?,?,?)",
                      (time.time(), "unmerge", row[0], json.dumps({"merge_id": merge_id, "restored": dups})))
