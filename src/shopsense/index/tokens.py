"""Per-item contextual token vectors for a soft (embedding) term match between a query and a title.

The bi-encoder pools a title into one vector, so its cosine cannot say *which* query word the title
covers. Keeping each title's token vectors (the encoder's last hidden states, [CLS]/[SEP] dropped)
lets the re-ranker ask, per query token, how well the best title token matches it — a BERTScore-style
recall / precision that catches plurals, typos, compounds and near-synonyms the stemmed BM25 misses.

Our own scheme, measured on the Home Depot train hold-out (benchmarks/results/search.md, twelfth session):
vectors are projected on the catalog's first `dims` principal components (PCA of a token sample; 128 of
384 lost nothing measurable) and stored as int8 (x 127 after L2 normalisation), ~2.3 kB an item.

Folder layout (no pickles): tokens.npy int8 (n_tokens, dims), spans.npy int64 (rows, 2) start/length,
mean.npy / proj.npy float32 (the projection), meta.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from shopsense.errors import DataError

SAMPLE = 200_000  # token vectors the projection is fitted on


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-9)


def _positions(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Every position inside the spans (starts[k], lens[k]), span after span."""
    return np.repeat(starts - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens) + np.arange(lens.sum())


class TokenIndex:
    def __init__(self, mean: np.ndarray, proj: np.ndarray) -> None:
        self.mean, self.proj = mean.astype(np.float32), proj.astype(np.float32)
        self.data = np.zeros((0, proj.shape[1]), np.int8)
        self.spans = np.zeros((0, 2), np.int64)
        self._dead = 0  # token vectors no row points at any more (replaced or removed); dropped on save

    @property
    def dims(self) -> int:
        return int(self.proj.shape[1])

    @classmethod
    def fit(cls, token_lists: Sequence[np.ndarray], dims: int, seed: int = 0) -> "TokenIndex":
        """Projection on the first `dims` principal components of (a sample of) the token vectors."""
        lists = [t for t in token_lists if len(t)]
        if not lists:
            raise DataError("no token vectors to fit the token index on", hint="build it from items with titles")
        allv = np.concatenate(lists).astype(np.float32)
        if len(allv) > SAMPLE:
            allv = allv[np.sort(np.random.default_rng(seed).choice(len(allv), SAMPLE, replace=False))]
        mean = allv.mean(0)
        _, _, vt = np.linalg.svd(allv - mean, full_matrices=False)
        return cls(mean, vt[:min(dims, len(vt))].T)

    def project(self, vecs: np.ndarray) -> np.ndarray:
        """float32 token vectors (n, model dim) -> unit vectors in the projected space."""
        return _unit((np.asarray(vecs, np.float32) - self.mean) @ self.proj)

    def set_rows(self, rows: Sequence[int], token_lists: Sequence[np.ndarray]) -> None:
        rows = np.asarray(rows, np.int64)
        if len(rows) != len(token_lists):
            raise DataError(f"{len(rows)} rows but {len(token_lists)} token lists")
        if len(rows) and rows.max() >= len(self.spans):
            self.spans = np.concatenate([self.spans, np.zeros((rows.max() + 1 - len(self.spans), 2), np.int64)])
        self._dead += int(self.spans[rows, 1].sum())
        lens = np.array([len(t) for t in token_lists], np.int64)
        start = len(self.data)
        if lens.sum():
            vecs = self.project(np.concatenate([t for t in token_lists if len(t)]))
            self.data = np.concatenate([self.data, np.round(vecs * 127).astype(np.int8)])
        self.spans[rows, 0] = start + np.concatenate([[0], np.cumsum(lens)[:-1]])
        self.spans[rows, 1] = lens

    def remove(self, rows: Sequence[int]) -> None:
        rows = np.asarray(rows, np.int64)
        rows = rows[rows < len(self.spans)]
        self._dead += int(self.spans[rows, 1].sum())
        self.spans[rows, 1] = 0

    def match(self, query_tokens: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(len(rows), 4): soft recall (mean over query tokens of the best title-token cosine), the worst
        query token's best cosine, soft precision (mean over title tokens of their best query-token
        cosine) and their harmonic mean. A row without tokens gets zeros."""
        out = np.zeros((len(rows), 4), np.float32)
        rows = np.asarray(rows, np.int64)
        if len(query_tokens) == 0 or len(rows) == 0:
            return out
        q = self.project(query_tokens)
        valid = rows < len(self.spans)
        rows = np.where(valid, rows, 0)
        st, ln = self.spans[rows, 0], np.where(valid, self.spans[rows, 1], 0)
        has = np.flatnonzero(ln > 0)
        if not len(has):
            return out
        st, ln = st[has], ln[has]
        sims = q @ (self.data[_positions(st, ln)].astype(np.float32) * (1 / 127)).T  # (query tokens, all title tokens)
        starts = np.concatenate([[0], np.cumsum(ln)[:-1]])
        best_q = np.maximum.reduceat(sims, starts, axis=1)  # each query token's best title token, per row
        prec = np.add.reduceat(sims.max(0), starts) / ln
        rec, worst = best_q.mean(0), best_q.min(0)
        out[has] = np.column_stack([rec, worst, prec, 2 * rec * prec / np.maximum(rec + prec, 1e-6)])
        return out

    # -- persistence ----------------------------------------------------------------------------
    def compact(self) -> None:
        """Drop token vectors no row points at (left by replaced and removed items)."""
        if not self._dead:
            return
        st, ln = self.spans[:, 0], self.spans[:, 1]
        self.data = self.data[_positions(st, ln)]
        self.spans[:, 0] = np.concatenate([[0], np.cumsum(ln)[:-1]])
        self._dead = 0

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.compact()
        np.save(folder / "tokens.npy", self.data)
        np.save(folder / "spans.npy", self.spans)
        np.save(folder / "mean.npy", self.mean)
        np.save(folder / "proj.npy", self.proj)
        (folder / "meta.json").write_text(json.dumps({"dims": self.dims, "tokens": int(len(self.data)),
                                                      "rows": int(len(self.spans))}))

    @classmethod
    def load(cls, folder: str | Path) -> "TokenIndex":
        folder = Path(folder)
        ti = cls(np.load(folder / "mean.npy"), np.load(folder / "proj.npy"))
        ti.data, ti.spans = np.load(folder / "tokens.npy"), np.load(folder / "spans.npy")
        if ti.data.shape[1:] != (ti.dims,) or (len(ti.spans) and (ti.spans.sum(1).max() > len(ti.data))):
            raise DataError(f"token index in {folder} is inconsistent (tokens {ti.data.shape}, dims {ti.dims})",
                            hint="rebuild the search index")
        return ti
