"""Item-to-item: co-visitation blended with text-embedding similarity; bought-together.

co-visit(i, j) = number of times j follows or precedes i within `window` steps of one session (or of one
user's history when sessions are unknown), cosine-normalised: c_ij / sqrt(n_i * n_j).
sim(i, j) = (1 - w) * co-visit(i, j) + w * max(0, cos(text_i, text_j))
A brand-new item (no events) still has neighbours through the text term. A history is scored by summing
the neighbours of its most recent items with weights decay**k (k = 0 for the newest).
Hand-written with scipy.sparse: the counting is a few lines and no maintained library blends it with text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shopsense.recommend.base import Context, Recommender
from shopsense.recommend.config import SimilarConfig
from shopsense.types import EVENT_CODES, Dataset


def covisitation(groups: list[np.ndarray], n_items: int, window: int):
    """Symmetric CSR of co-visit counts within `window` steps, cosine-normalised."""
    from scipy.sparse import coo_matrix

    rows, cols = [], []
    for g in groups:
        g = np.asarray(g, np.int64)
        for d in range(1, min(window, len(g) - 1) + 1):
            a, b = g[:-d], g[d:]
            keep = a != b
            rows += [a[keep], b[keep]]
            cols += [b[keep], a[keep]]
    if rows:
        r, c = np.concatenate(rows), np.concatenate(cols)
    else:
        r = c = np.zeros(0, np.int64)
    m = coo_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n_items, n_items)).tocsr()
    m.sum_duplicates()
    deg = np.asarray(m.sum(axis=1)).ravel()
    inv = np.where(deg > 0, 1.0 / np.sqrt(np.maximum(deg, 1e-12)), 0.0).astype(np.float32)
    m = m.multiply(inv[:, None]).multiply(inv[None, :]).tocsr()
    return m.astype(np.float32)


class SimilarItemsRecommender(Recommender):
    kind = "similar"
    source = "similar"
    config_cls = SimilarConfig

    def __init__(self, config: SimilarConfig | None = None, *, exclude_seen: bool = True, encoder=None,
                 text_config=None) -> None:
        super().__init__(config, exclude_seen=exclude_seen)
        self._encoder, self._text_config = encoder, text_config
        self.text_emb: np.ndarray | None = None

    def _groups(self, dataset: Dataset) -> list[np.ndarray]:
        ev = dataset.events
        mask = ev.item >= 0
        if self.config.event_types is not None:
            mask &= np.isin(ev.type, [EVENT_CODES[t] for t in self.config.event_types])
        sess = ev.session[mask]
        # group key: the session when known, else the user (negative keys never collide with sessions)
        key = np.where(sess >= 0, sess, -1 - ev.user[mask])
        order = np.lexsort((ev.timestamp[mask], key))
        k, it = key[order], ev.item[mask][order]
        cuts = np.flatnonzero(np.diff(k)) + 1
        return np.split(it, cuts) if len(it) else []

    def _fit(self, dataset: Dataset) -> None:
        self.covis = covisitation(self._groups(dataset), dataset.n_items, self.config.window)
        self.text_emb = None
        if self.config.text_weight > 0:
            from shopsense.recommend.features import text_embeddings

            enc = self._encoder
            if enc is None:
                from shopsense.text.encoder import get_encoder

                enc = get_encoder(self._text_config)
            self.text_emb = text_embeddings(dataset.items, enc)

    def neighbour_scores(self, rows: np.ndarray) -> np.ndarray:
        """(len(rows), n_items) similarity of each item in `rows` to every item."""
        w = self.config.text_weight
        out = np.asarray(self.covis[rows].todense(), dtype=np.float64) * (1.0 - w)
        if self.text_emb is not None and w > 0:
            out += w * np.maximum(self.text_emb[rows] @ self.text_emb.T, 0.0)
        return out

    def _score_batch(self, contexts: list[Context]) -> list[tuple[np.ndarray, dict[str, Any]] | None]:
        out: list[tuple[np.ndarray, dict[str, Any]] | None] = []
        for ctx in contexts:
            recent = ctx.history[::-1][:self.config.history_items]
            if len(recent) == 0:
                out.append(None)
                continue
            weights = self.config.recency_decay ** np.arange(len(recent))
            sims = self.neighbour_scores(recent)
            scores = weights @ sims
            scores[scores <= 0] = -np.inf  # nothing in common with the history: not a neighbour
            out.append((scores, {"source": self.source, "_recent": recent, "_w": weights}))
        return out

    def _explain(self, ctx: Context, item_rows: np.ndarray, reason: dict[str, Any]) -> list[dict[str, Any]]:
        recent, w = reason.pop("_recent", None), reason.pop("_w", None)
        base = [dict(reason) for _ in item_rows]
        if recent is None or len(item_rows) == 0:
            return base
        contrib = (self.neighbour_scores(recent)[:, item_rows]) * w[:, None]
        best = recent[np.argmax(contrib, axis=0)]
        for r, b in zip(base, best):
            r["because"] = self.item_vocab.ids[b]
        return base

    def similar(self, item_id: str, n: int = 10, **kw) -> Any:
        """Neighbours of one item (unknown item: popularity fallback, said in the reason)."""
        return self.recommend([item_id], n, **kw)

    def _save_state(self, path: Path) -> dict[str, Any]:
        from shopsense.recommend.persist import save_npy

        c = self.covis.tocsr()
        for name in ("data", "indices", "indptr"):
            save_npy(path, f"covis_{name}", getattr(c, name))
        if self.text_emb is not None:
            save_npy(path, "text_emb", self.text_emb)
        return {"has_text": self.text_emb is not None}

    def _load_state(self, path: Path, meta: dict[str, Any]) -> None:
        from scipy.sparse import csr_matrix

        from shopsense.recommend.persist import load_npy

        n = self.n_items
        self.covis = csr_matrix((load_npy(path, "covis_data"), load_npy(path, "covis_indices"),
                                 load_npy(path, "covis_indptr")), shape=(n, n))
        self.text_emb = load_npy(path, "text_emb") if meta.get("has_text") else None


class BoughtTogetherRecommender(SimilarItemsRecommender):
    """Purchase co-occurrence: co-visitation restricted to purchase events (baskets = sessions/users)."""

    kind = "bought_together"
    source = "bought_together"

    def __init__(self, config: SimilarConfig | None = None, *, exclude_seen: bool = True, encoder=None,
                 text_config=None) -> None:
        config = config or SimilarConfig(event_types=["purchase"], text_weight=0.0, window=50)
        super().__init__(config, exclude_seen=exclude_seen, encoder=encoder, text_config=text_config)
