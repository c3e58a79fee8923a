"""Adapters over the search engine and the recommenders: one small surface with a fallback chain.

Every call returns an `ItemList` (possibly empty) and never raises for a model failure: the failure is
counted in `errors` and logged, and the caller moves on to the next source. Bad *input* (a filter the
search engine rejects) is re-raised as `DataError` so the API can answer 4xx.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from typing import Any, Callable, Sequence

import numpy as np

from shopsense.errors import DataError
from shopsense.types import Item, ItemList

log = logging.getLogger(__name__)
_TEXT_MEMO = 50_000  # items whose text neighbours are memoised (~64 ints each)


class Sources:
    """Holds the fitted models (any may be missing): search, cf, similar, bought_together, trending."""

    def __init__(self, models: dict[str, Any], search: Any = None, items: dict[str, Item] | None = None) -> None:
        self.models = {k: v for k, v in models.items() if v is not None}
        self.search_engine = search
        self.items = items or {}
        self.errors: Counter[str] = Counter()
        self._trending_cache: dict[tuple[int, str | None], ItemList] = {}
        self.cf_table: Any = None  # rank.cftable.CFTable, when the engine has one
        self._text_memo: dict[tuple[int, int], np.ndarray] = {}

    def has(self, name: str) -> bool:
        return name == "search" and self.search_engine is not None or name in self.models

    def _safe(self, name: str, fn: Callable[[], ItemList | None]) -> ItemList:
        try:
            out = fn()
            return out if out is not None else ItemList.empty()
        except DataError:
            raise
        except Exception as e:  # noqa: BLE001 - a failing source must never break a response
            self.errors[name] += 1
            log.warning("candidate source %s failed: %s", name, e)
            return ItemList.empty()

    # -- recommendation sources ----------------------------------------------------------------
    def cf(self, user_key: str | None, recent: Sequence[str], n: int) -> ItemList:
        m = self.models.get("cf")
        if m is None:
            return ItemList.empty()

        def run() -> ItemList:
            if user_key and user_key in m.user_vocab:
                if self.cf_table is not None:
                    hit = self.cf_table.top(m.user_vocab.get(user_key), n, m.item_vocab.ids)
                    if hit is not None:
                        return hit
                return m.recommend(user_key, n)
            if recent:  # unknown to the model (new shopper): fold the session in
                return m.recommend(list(recent), n)
            return ItemList.empty()
        return self._safe("cf", run)

    def similar_history(self, recent: Sequence[str], n: int) -> ItemList:
        """Co-visit neighbours of the recent items (newest weighs most) + text neighbours of the newest."""
        m = self.models.get("similar")
        if m is None or not recent:
            return ItemList.empty()
        return self._safe("similar", lambda: self._neighbours(m, recent, n, "similar"))

    def bought_together_history(self, recent: Sequence[str], n: int) -> ItemList:
        m = self.models.get("bought_together")
        if m is None or not recent:
            return ItemList.empty()
        return self._safe("bought_together", lambda: self._neighbours(m, recent, n, "bought_together"))

    def _neighbours(self, m: Any, recent: Sequence[str], n: int, source: str) -> ItemList:
        rows = m.item_vocab.lookup(recent)
        rows = rows[rows >= 0]
        if len(rows) == 0 or n <= 0:
            return ItemList.empty()
        decay = float(getattr(m.config, "recency_decay", 0.8))
        w_text = float(getattr(m.config, "text_weight", 0.0))
        weights = decay ** np.arange(len(rows)) * (1.0 - w_text)
        # Co-visit scores stay sparse and are read straight from the CSR arrays: scipy's row slicing and
        # column indexing cost ~1.5 ms per call on a 100k-item matrix, this ~0.1 ms (measured).
        cov = m.covis
        starts, ends = cov.indptr[rows], cov.indptr[rows + 1]
        lens = (ends - starts).astype(np.int64)
        at = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)]) if lens.sum() else np.zeros(0, np.int64)
        cols = cov.indices[at].astype(np.int64)
        src = np.repeat(np.arange(len(rows)), lens)  # which history item each entry comes from
        contrib_e = cov.data[at] * weights[src]
        cand_all, inv = np.unique(cols, return_inverse=True)
        vals = np.bincount(inv, weights=contrib_e, minlength=len(cand_all)).astype(np.float64)
        keep = ~np.isin(cand_all, rows) & (vals > 0)
        cand_all, vals = cand_all[keep], vals[keep]
        text = None
        # text neighbours of the newest item only when co-visits are scarce (new / rarely bought items):
        # its top text neighbours (memoised per item: the model is fixed) plus the co-visited items, all
        # scored exactly. Equal to scoring every item when the memo holds >= n + len(rows) neighbours:
        # an item outside both sets scores at most the last memoised one.
        if getattr(m, "text_emb", None) is not None and w_text > 0 and len(cand_all) < min(n, 20):
            near = self._text_near(m, int(rows[0]), n + len(rows))
            union = np.union1d(near, cand_all)
            v = m.text_emb[rows[0]]
            text_u = np.maximum(m.text_emb[union] @ v, 0.0).astype(np.float64) * w_text
            sc = text_u.copy()
            sc[np.searchsorted(union, cand_all)] += vals
            ok = ~np.isin(union, rows) & (sc > 0)
            cand_all, vals = union[ok], sc[ok]
            text = (v, w_text)
        if len(cand_all) == 0:
            return ItemList.empty()
        sel = np.arange(len(cand_all))
        if len(sel) > n:
            sel = np.argpartition(-vals, n - 1)[:n]
        sel = sel[np.lexsort((cand_all[sel], -vals[sel]))]
        top, top_scores = cand_all[sel], vals[sel]
        # "because": the history item contributing most to each result (ties: the most recent)
        contrib = np.zeros((len(rows), len(top)))
        order = np.argsort(top)
        j = np.searchsorted(top[order], cols)
        j = np.minimum(j, len(top) - 1)
        hit = top[order][j] == cols
        np.add.at(contrib, (src[hit], order[j[hit]]), contrib_e[hit])
        if text is not None:
            contrib[0] += np.maximum(m.text_emb[top] @ text[0], 0.0) * text[1]
        best = rows[np.argmax(contrib, axis=0)]
        ids = m.item_vocab.ids
        reasons = [[{"source": source, "rank": r + 1, "because": ids[b]}] for r, b in enumerate(best)]
        return ItemList([ids[i] for i in top], top_scores, reasons)

    def _text_near(self, m: Any, row: int, k: int) -> np.ndarray:
        """The `k` items most text-similar to `row` (itself included), memoised per (model, item): a full
        pass over the catalog's text vectors (100k × 256 floats, ~2 ms) is done once per item, not per
        request. Bounded: the memo is cleared when it holds `_TEXT_MEMO` items."""
        key = (id(m), row)
        hit = self._text_memo.get(key)
        if hit is not None and len(hit) >= k:
            return hit
        k = max(k, 64)
        s = m.text_emb @ m.text_emb[row]
        near = np.argpartition(s, len(s) - k)[len(s) - k:] if k < len(s) else np.arange(len(s))
        near = np.sort(near)
        if len(self._text_memo) >= _TEXT_MEMO:
            self._text_memo.clear()
        self._text_memo[key] = near
        return near

    def trending(self, n: int, category: str | None = None) -> ItemList:
        """The same for everyone: cached per (n, category) until `trending_changed()` (a posted event)."""
        m = self.models.get("trending")
        if m is None:
            return ItemList.empty()
        key = (n, category)
        hit = self._trending_cache.get(key)
        if hit is not None:
            return hit
        f = {"category": category} if category else None
        out = self._safe("trending", lambda: m.recommend(None, n, filters=f))
        if len(self._trending_cache) > 256:
            self._trending_cache.clear()
        self._trending_cache[key] = out
        return out

    def trending_changed(self) -> None:
        self._trending_cache = {}

    # -- item pages -----------------------------------------------------------------------------
    def similar_item(self, item_id: str, n: int) -> ItemList:
        m = self.models.get("similar")
        if m is None or item_id not in m.item_vocab:
            return ItemList.empty()
        return self._safe("similar", lambda: self._neighbours(m, [item_id], n, "similar"))

    def bought_together_item(self, item_id: str, n: int) -> ItemList:
        m = self.models.get("bought_together")
        if m is None or item_id not in m.item_vocab:
            return ItemList.empty()
        return self._safe("bought_together", lambda: self._neighbours(m, [item_id], n, "bought_together"))

    # -- search --------------------------------------------------------------------------------
    def search(self, query: str, n: int, filters: dict | None, facets: bool,
               query_vector=None) -> tuple[ItemList, dict | None, int, dict]:
        """(hits, facets, total, parsed query). Falls back to a title word match when the engine fails."""
        eng = self.search_engine
        if eng is not None:
            try:
                res = eng.search(query, k=n, filters=filters or None, facets=facets, query_vector=query_vector)
                return res.items, res.facets, res.total, res.query.to_dict()
            except DataError:
                raise
            except Exception as e:  # noqa: BLE001
                self.errors["search"] += 1
                log.warning("search engine failed, using the title-match fallback: %s", e)
        return self._title_match(query, n) + ({"fallback": "title match"},)

    def _title_match(self, query: str, n: int) -> tuple[ItemList, None, int]:
        words = [w for w in re.findall(r"\w+", query.lower()) if len(w) > 1]
        if not words:
            return ItemList.empty(), None, 0
        hits = [iid for iid, it in self.items.items() if all(w in it.title.lower() for w in words)]
        reasons = [[{"source": "title_match", "rank": r + 1, "matched": words}] for r in range(min(n, len(hits)))]
        return ItemList(hits[:n], np.ones(min(n, len(hits))), reasons), None, len(hits)
