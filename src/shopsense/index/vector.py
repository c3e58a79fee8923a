"""Vector index over row numbers: usearch HNSW (inner product on L2-normalised vectors) with an
exact fallback for selective filters. Updatable: `upsert` adds or replaces rows, `remove` drops
them. Saved as a folder of .npy + JSON; the HNSW graph is stored as raw bytes in a uint8 .npy
(usearch's own serialisation, not pickle), so loading does not re-build the graph.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from shopsense.errors import DataError
from shopsense.index.config import IndexConfig
from shopsense.index.topk import top_k


def _usearch_index():
    """usearch's Index class. LightGBM (the re-ranker) must be loaded *before* usearch: once usearch's
    native library is in the process, LightGBM's Dataset construction fails with "Feature (Column_)
    appears more than one time" (a native symbol clash, seen with usearch 2.26 + lightgbm 4.7)."""
    try:
        import lightgbm  # noqa: F401
    except ImportError:
        pass
    from usearch.index import Index

    return Index


class VectorIndex:
    def __init__(self, dim: int, config: IndexConfig | None = None) -> None:
        self.dim = dim
        self.config = config or IndexConfig()
        self.vectors = np.zeros((0, dim), np.float32)
        self.alive = np.zeros(0, bool)
        self._hnsw = None
        if self.config.ann == "usearch":
            self._hnsw = self._new_hnsw()

    def _new_hnsw(self):
        Index = _usearch_index()

        c = self.config
        return Index(ndim=self.dim, metric="ip", dtype=c.ann_dtype, connectivity=c.ann_connectivity,
                     expansion_add=c.ann_expansion_add, expansion_search=c.ann_expansion_search)

    def __len__(self) -> int:
        return int(np.count_nonzero(self.alive))

    def upsert(self, rows: np.ndarray, vectors: np.ndarray) -> None:
        rows = np.asarray(rows, np.int64)
        vectors = np.asarray(vectors, np.float32)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim or len(rows) != len(vectors):
            raise DataError(f"expected {len(rows)} vectors of dim {self.dim}, got shape {vectors.shape}")
        if len(rows) == 0:
            return
        n = int(rows.max()) + 1
        if n > len(self.alive):
            grow = n - len(self.alive)
            self.vectors = np.concatenate([self.vectors, np.zeros((grow, self.dim), np.float32)])
            self.alive = np.concatenate([self.alive, np.zeros(grow, bool)])
        if self._hnsw is not None:
            existing = rows[self.alive[rows]]
            if len(existing):
                self._hnsw.remove(existing.astype(np.uint64))
            self._hnsw.add(rows.astype(np.uint64), vectors, threads=self.config.ann_build_threads)
        self.vectors[rows] = vectors
        self.alive[rows] = True

    def remove(self, rows: np.ndarray) -> None:
        rows = np.asarray(rows, np.int64)
        rows = rows[(rows >= 0) & (rows < len(self.alive))]
        rows = rows[self.alive[rows]]
        if self._hnsw is not None and len(rows):
            self._hnsw.remove(rows.astype(np.uint64))
        self.alive[rows] = False

    def similarity(self, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self.vectors[rows] @ np.asarray(query, np.float32)

    def search(self, query: np.ndarray, k: int, mask: np.ndarray | None = None,
               tie: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Top-k rows by cosine (rows, scores), only rows where `mask` is True (and alive). Equal cosines (items
        with the same text) go to the lower `tie` key per row (`index.topk.tie_keys`), else to the lower row."""
        q = np.asarray(query, np.float32).reshape(-1)
        allowed = self.alive if mask is None else (self.alive & mask[: len(self.alive)])
        n_allowed = int(np.count_nonzero(allowed))
        k = min(k, n_allowed)
        if k <= 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        share = n_allowed / max(1, len(self.alive))
        if self._hnsw is None or share < self.config.exact_below:
            cand = np.flatnonzero(allowed)
            s = self.vectors[cand] @ q
            top = top_k(s, k, tie[cand] if tie is not None else None)
            return cand[top], s[top]
        # filtered ANN: over-fetch in proportion to the share the filter keeps, then post-filter (the
        # over-fetch also widens the HNSW beam for the top k: kept unfiltered too, so recall is unchanged)
        want = min(len(self._hnsw), int(np.ceil(k / max(share, 1e-6) * 1.5)) + 10)
        m = self._hnsw.search(q, want)
        rows = np.asarray(m.keys, np.int64)
        rows = rows[allowed[rows]]
        if len(rows) < k and want < len(self._hnsw):  # too few survived: exact over allowed rows
            return VectorIndex.search(self._exact_view(), q, k, allowed, tie)
        # the graph finds the hits; their scores come from the float vectors (the graph may store int8:
        # IndexConfig.ann_dtype), and the order with them — ~20 µs for the 160 hits of a k=100 search
        sims = self.vectors[rows] @ q
        order = (np.lexsort((tie[rows], -sims)) if tie is not None else np.argsort(-sims, kind="stable"))[:k]
        return rows[order], sims[order]

    def _exact_view(self) -> "VectorIndex":
        v = VectorIndex.__new__(VectorIndex)
        v.dim, v.config, v.vectors, v.alive, v._hnsw = self.dim, self.config, self.vectors, self.alive, None
        return v

    # -- persistence ------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "vectors.npy", self.vectors)
        np.save(folder / "alive.npy", self.alive)
        if self._hnsw is not None:
            np.save(folder / "hnsw.npy", np.frombuffer(bytes(self._hnsw.save()), dtype=np.uint8))
        (folder / "meta.json").write_text(json.dumps({"dim": self.dim, "config": self.config.model_dump(mode="json")}))

    @classmethod
    def load(cls, folder: str | Path) -> "VectorIndex":
        folder = Path(folder)
        if not (folder / "meta.json").exists():
            raise DataError(f"no vector index in {folder}", hint="build the search index first")
        meta = json.loads((folder / "meta.json").read_text())
        meta["config"].setdefault("ann_dtype", "f32")  # folders saved before the setting held f32 graphs
        v = cls.__new__(cls)
        v.dim, v.config = int(meta["dim"]), IndexConfig.model_validate(meta["config"])
        v.vectors, v.alive = np.load(folder / "vectors.npy"), np.load(folder / "alive.npy")
        v._hnsw = None
        if v.config.ann == "usearch":
            Index = _usearch_index()
            hp = folder / "hnsw.npy"
            if hp.exists():
                v._hnsw = Index.restore(np.load(hp).tobytes())
            else:  # graph missing: rebuild from the stored vectors
                v._hnsw = v._new_hnsw()
                rows = np.flatnonzero(v.alive)
                if len(rows):
                    v._hnsw.add(rows.astype(np.uint64), v.vectors[rows], threads=v.config.ann_build_threads)
        return v
