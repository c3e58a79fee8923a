"""The one contract every recommender follows.

    rec = SomeRecommender(config).fit(dataset)
    rec.recommend("user-42", n=10, exclude=["B001"], filters={"category": "Lab"})   # a user id
    rec.recommend(["B003", "B017"], n=10)                                           # a session history
    rec.recommend(None, n=10)                                                       # nobody: fallback
    rec.recommend_batch([...], n=10)  == [rec.recommend(q, n=10) for q in ...]
    rec.save(folder); load_recommender(folder)

`recommend` never raises for an unknown user or unknown history items: it falls back (to the
popularity ranking fitted alongside every model) and says so in the reasons. Subclasses implement
`_fit(dataset)` and `_score_batch(contexts)`; the base class resolves ids, applies exclusions and
filters, falls back, ranks and attaches reasons, identically for single and batch calls.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from shopsense.errors import DataError, NotFittedError
from shopsense.types import Dataset, ItemList, Vocabulary

Query = str | Sequence[str] | None
FORMAT_VERSION = 1


@dataclass
class Context:
    """A resolved query: the user row (-1 when unknown / absent) and the history as item rows."""

    user: int
    history: np.ndarray
    notes: list[str] = field(default_factory=list)


def data_fingerprint(dataset: Dataset) -> str:
    """Short hash of the catalog ids and the events a model is fitted on."""
    h = hashlib.sha256()
    h.update("\x1f".join(dataset.item_vocab.ids).encode())
    h.update("\x1f".join(dataset.user_vocab.ids).encode())
    ev = dataset.events
    for a in (ev.user, ev.item, ev.type, ev.timestamp):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _item_meta(dataset: Dataset) -> dict[str, list]:
    return {"category": [list(it.category) for it in dataset.items], "brand": [it.brand for it in dataset.items],
            "price": [it.price for it in dataset.items], "stock": [it.stock for it in dataset.items]}


class Recommender:
    """Base class: fitted state shared by all recommenders plus the query/rank/reason pipeline."""

    kind: ClassVar[str] = "base"
    source: ClassVar[str] = "base"
    config_cls: ClassVar[type | None] = None

    def __init__(self, config: Any = None, *, exclude_seen: bool = True) -> None:
        if config is None and self.config_cls is not None:
            config = self.config_cls()
        self.config = config
        self.exclude_seen = exclude_seen
        self.fitted = False
        self.fingerprint = ""

    # ------------------------------------------------------------------ fit
    def fit(self, dataset: Dataset) -> "Recommender":
        if not isinstance(dataset, Dataset):
            raise DataError(f"fit() needs a shopsense Dataset, got {type(dataset).__name__}",
                            hint="build one with Dataset.from_records(...) or store.load_dataset()")
        if dataset.n_items == 0:
            raise DataError("the dataset has no items", hint="ingest a catalog before training")
        self.item_vocab = Vocabulary(dataset.item_vocab.ids)
        self.user_vocab = Vocabulary(dataset.user_vocab.ids)
        seqs = dataset.user_sequences()
        self._hist_flat = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
        self._hist_off = np.concatenate([[0], np.cumsum([len(s) for s in seqs])]).astype(np.int64)
        mask = dataset.events.item >= 0
        self.popularity = np.bincount(dataset.events.item[mask], minlength=dataset.n_items).astype(np.float64)
        self.item_meta = _item_meta(dataset)
        self._fit(dataset)
        cfg_fp = self.config.fingerprint() if hasattr(self.config, "fingerprint") else ""
        self.fingerprint = hashlib.sha256(f"{self.kind}:{cfg_fp}:{data_fingerprint(dataset)}".encode()).hexdigest()[:16]
        self.fitted = True
        return self

    def _fit(self, dataset: Dataset) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    @property
    def n_items(self) -> int:
        return len(self.item_vocab)

    def user_history(self, user_row: int) -> np.ndarray:
        if user_row < 0 or user_row + 1 >= len(self._hist_off):
            return np.zeros(0, np.int64)
        return self._hist_flat[self._hist_off[user_row]:self._hist_off[user_row + 1]]

    # ------------------------------------------------------------------ query
    def _resolve(self, query: Query) -> Context:
        if query is None or (isinstance(query, str) and not query):
            return Context(-1, np.zeros(0, np.int64), ["no user or history given"])
        if isinstance(query, str):
            row = self.user_vocab.get(query)
            if row < 0:
                return Context(-1, np.zeros(0, np.int64), [f"unknown user {query!r}"])
            return Context(row, self.user_history(row))
        if not isinstance(query, Sequence) or not all(isinstance(x, str) for x in query):
            raise DataError("a recommend query is a user id (str), a history (list of item id strings) or None",
                            field="query")
        rows = self.item_vocab.lookup(query)
        notes = []
        if (rows < 0).any():
            unknown = [q for q, r in zip(query, rows) if r < 0]
            notes.append(f"ignored {len(unknown)} unknown history item(s): {unknown[:5]}")
        return Context(-1, rows[rows >= 0], notes)

    def _score_batch(self, contexts: list[Context]) -> list[tuple[np.ndarray, dict[str, Any]] | None]:
        """Per context: (scores over all items, reason) or None when this model cannot score it."""
        raise NotImplementedError  # pragma: no cover

    def _explain(self, ctx: Context, item_rows: np.ndarray, reason: dict[str, Any]) -> list[dict[str, Any]]:
        """Per recommended item, its reason (subclasses add e.g. the history item it is similar to)."""
        return [dict(reason) for _ in item_rows]

    def filter_mask(self, filters: Mapping[str, Any] | None) -> np.ndarray | None:
        """Items allowed by `filters`: category (any level of the path), brand (str or list),
        min_price / max_price, in_stock (bool), item_ids (allow-list)."""
        if not filters:
            return None
        m, meta = np.ones(self.n_items, dtype=bool), self.item_meta
        for key, val in filters.items():
            if key == "category":
                m &= np.array([val in c for c in meta["category"]], dtype=bool)
            elif key == "brand":
                allowed = {val} if isinstance(val, str) else set(val)
                m &= np.array([b in allowed for b in meta["brand"]], dtype=bool)
            elif key in ("min_price", "max_price"):
                p = np.array([np.nan if x is None else x for x in meta["price"]], dtype=np.float64)
                m &= (p >= float(val)) if key == "min_price" else (p <= float(val))
            elif key == "in_stock":
                s = np.array([-1 if x is None else x for x in meta["stock"]])
                m &= ((s != 0) if val else (s == 0))
            elif key == "item_ids":
                allow = np.zeros(self.n_items, dtype=bool)
                rows = self.item_vocab.lookup(val)
                allow[rows[rows >= 0]] = True
                m &= allow
            else:
                raise DataError(f"unknown recommend filter {key!r}", field=key,
                                hint="use category, brand, min_price, max_price, in_stock or item_ids")
        return m

    def recommend(self, query: Query = None, n: int = 10, *, exclude: Sequence[str] | None = None,
                  filters: Mapping[str, Any] | None = None) -> ItemList:
        """Top-`n` items for a user id, a session history (item ids) or nobody (None)."""
        return self.recommend_batch([query], n, exclude=exclude, filters=filters)[0]

    def recommend_batch(self, queries: Sequence[Query], n: int = 10, *, exclude: Sequence[str] | None = None,
                        filters: Mapping[str, Any] | None = None) -> list[ItemList]:
        if not self.fitted:
            raise NotFittedError(f"{type(self).__name__}")
        if n < 0:
            raise DataError(f"n must be >= 0, got {n}", field="n")
        contexts = [self._resolve(q) for q in queries]
        allowed = self.filter_mask(filters)
        ex_rows = self.item_vocab.lookup(exclude) if exclude else np.zeros(0, np.int64)
        ex_rows = ex_rows[ex_rows >= 0]
        out = []
        for ctx, scored in zip(contexts, self._score_batch(contexts)):
            if scored is None:
                why = ctx.notes[0] if ctx.notes else "this model cannot score this user"
                scores, reason = self.popularity.astype(np.float64), {"source": "popular", "fallback": why}
            else:
                scores, reason = np.asarray(scored[0], np.float64), dict(scored[1])
            out.append(self._rank(ctx, scores.copy(), reason, n, ex_rows, allowed))
        return out

    def _rank(self, ctx: Context, scores: np.ndarray, reason: dict[str, Any], n: int,
              ex_rows: np.ndarray, allowed: np.ndarray | None) -> ItemList:
        scores[~np.isfinite(scores)] = -np.inf
        blocked = np.zeros(len(scores), dtype=bool)
        if self.exclude_seen and len(ctx.history):
            blocked[ctx.history] = True
        blocked[ex_rows] = True
        if allowed is not None:
            blocked |= ~allowed
        scores[blocked] = -np.inf
        cand = np.flatnonzero(np.isfinite(scores))
        if n < len(cand):
            part = cand[np.argpartition(-scores[cand], n - 1)[:n]] if n > 0 else cand[:0]
        else:
            part = cand
        top = part[np.lexsort((part, -scores[part]))]  # by score, ties by row: deterministic
        if ctx.notes:
            reason["notes"] = list(ctx.notes)
        reasons = self._explain(ctx, top, reason)
        top_scores = scores[top]
        if len(top) < n:  # too few candidates (e.g. no neighbours in the filtered category): backfill
            fill = np.flatnonzero(~blocked & ~np.isfinite(scores))
            fill = fill[np.lexsort((fill, -self.popularity[fill]))][:n - len(top)]
            low = (top_scores.min() if len(top) else 0.0) - 1.0
            top_scores = np.concatenate([top_scores, low - np.arange(len(fill), dtype=np.float64)])
            top = np.concatenate([top, fill]).astype(np.int64)
            reasons += [{"source": "popular", "fallback": "backfill: the model had too few candidates"} for _ in fill]
        for r, rs in enumerate(reasons):
            rs["rank"] = r + 1
        ids = [self.item_vocab.ids[i] for i in top]
        return ItemList(ids, top_scores, [[rs] for rs in reasons])

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> Path:
        from shopsense.recommend.persist import save_recommender

        return save_recommender(self, path)

    def _save_state(self, path: Path) -> dict[str, Any]:
        """Write model arrays under `path`; return JSON-able extra metadata."""
        return {}

    def _load_state(self, path: Path, meta: dict[str, Any]) -> None:
        pass


def write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False))
