"""Each catalog item's nearest other items in encoder space, for the re-ranker's neighbour features.

Why (our own idea, measured in benchmarks/results/search.md, twenty-third session): a shop's own search
matched descriptions and attributes the catalog we index may lack; items whose titles sit close to an
item's in encoder space stand in for them. "Do this item's neighbours match the query?" is then a
cluster-hypothesis smoothing of the lexical score (similar items tend to be relevant to the same
queries), asked per candidate at query time as a gather over a precomputed (rows, k) table.

Lists are found through the vector index (its HNSW graph, or exactly when it has none), scored from the
float vectors, and ordered by cosine with equal cosines (items with the same text) to the lower tie key,
so a rebuild gives the same table. Updates find again the lists a change touches: the changed rows', those
that held a changed or removed row, and those a changed row is now at least as near to as their last
neighbour (one product of the changed rows' vectors with the catalog's), so an updated table equals a rebuilt
one.

Folder layout (no pickles): rows.npy int64 (n, k), -1 = no neighbour; sims.npy float32; meta.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shopsense.errors import DataError

if TYPE_CHECKING:  # pragma: no cover
    from shopsense.index.vector import VectorIndex

BLOCK = 1024  # rows searched at once (exact path: a (BLOCK, n) float32 similarity block)


def _rounded(sims: np.ndarray) -> np.ndarray:
    """Cosines as compared: items with the same text must tie, and a matrix product's float rounding differs with
    the rows' positions in it (~1e-7), so the order would otherwise depend on which rows were asked together."""
    return np.round(sims, 6)


class NeighbourIndex:
    def __init__(self, k: int) -> None:
        if k < 1:
            raise DataError(f"neighbour lists need k >= 1, got {k}", hint="set index.neighbours to 0 to turn them off")
        self.k = k
        self.rows = np.full((0, k), -1, np.int64)
        self.sims = np.zeros((0, k), np.float32)

    def _grow(self, n: int) -> None:
        if n > len(self.rows):
            extra = n - len(self.rows)
            self.rows = np.concatenate([self.rows, np.full((extra, self.k), -1, np.int64)])
            self.sims = np.concatenate([self.sims, np.zeros((extra, self.k), np.float32)])

    def _lists(self, vec: "VectorIndex", rows: np.ndarray, tie: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The k nearest alive rows (not itself) of each of `rows`, best first."""
        k, alive = self.k, vec.alive
        out_r = np.full((len(rows), k), -1, np.int64)
        out_s = np.zeros((len(rows), k), np.float32)
        hnsw = getattr(vec, "_hnsw", None)
        n_alive = int(np.count_nonzero(alive))
        for s in range(0, len(rows), BLOCK):
            part = rows[s:s + BLOCK]
            q = vec.vectors[part]
            if hnsw is not None and len(hnsw) > 0:
                # over-fetch: the graph may store int8 vectors, so its order near the cut is approximate
                m = hnsw.search(q, min(len(hnsw), 2 * k + 2))
                keys = np.asarray(m.keys, np.int64)
                if keys.ndim == 1:  # one query: usearch answers with plain Matches, its keys all valid
                    cand = keys.reshape(1, -1)
                else:  # BatchMatches pads each row past its count
                    valid = np.arange(keys.shape[1])[None, :] < np.asarray(m.counts).reshape(-1, 1)
                    cand = np.where(valid, keys, -1)
            else:
                live = np.flatnonzero(alive)
                sim_all = q @ vec.vectors[live].T
                take = min(len(live), 2 * k + 2)
                top = np.argpartition(-sim_all, take - 1, axis=1)[:, :take] if take < len(live) else \
                    np.broadcast_to(np.arange(len(live)), (len(part), len(live)))
                cand = live[top]
            for i, r in enumerate(part.tolist()):
                c = cand[i]
                c = c[(c >= 0) & (c != r)]
                c = c[alive[c]]
                if not len(c):
                    continue
                sim = vec.vectors[c] @ vec.vectors[r]
                order = np.lexsort((tie[c], -_rounded(sim)))[:k]
                out_r[s + i, :len(order)], out_s[s + i, :len(order)] = c[order], sim[order]
        if n_alive <= 1:
            out_r[:] = -1
        return out_r, out_s

    def update(self, vec: "VectorIndex", changed: np.ndarray, tie: np.ndarray) -> None:
        """After `changed` rows were added to or replaced in `vec`: their lists, the lists that held them, and the
        lists they now belong in (a row whose last neighbour is no nearer than a changed row) are found again."""
        changed = np.unique(np.asarray(changed, np.int64))
        self._grow(len(vec.alive))
        alive = vec.alive[: len(self.rows)]
        live = changed[vec.alive[changed]]
        redo = np.union1d(live, np.flatnonzero(np.isin(self.rows, changed).any(1) & alive))
        rest = np.setdiff1d(np.flatnonzero(alive), redo)
        if len(live) and len(rest):
            last = np.where(self.rows[rest, -1] >= 0, _rounded(self.sims[rest, -1]), -np.inf)
            gain = np.zeros(len(rest), bool)
            for s in range(0, len(live), BLOCK):  # (rest, BLOCK) cosines to the changed rows
                near = _rounded(vec.vectors[: len(self.rows)] @ vec.vectors[live[s:s + BLOCK]].T).max(1)
                gain |= near[rest] >= last
            redo = np.union1d(redo, rest[gain])
        if len(redo):
            self.rows[redo], self.sims[redo] = self._lists(vec, redo, tie)

    def remove(self, vec: "VectorIndex", removed: np.ndarray, tie: np.ndarray) -> None:
        """After `removed` rows left `vec`: they lose their lists and leave everyone else's."""
        removed = np.asarray(removed, np.int64)
        removed = removed[removed < len(self.rows)]
        self.rows[removed], self.sims[removed] = -1, 0.0
        stale = np.flatnonzero(np.isin(self.rows, removed).any(1) & vec.alive[: len(self.rows)])
        if len(stale):
            self.rows[stale], self.sims[stale] = self._lists(vec, stale, tie)

    # -- persistence ----------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "rows.npy", self.rows)
        np.save(folder / "sims.npy", self.sims)
        (folder / "meta.json").write_text(json.dumps({"k": self.k, "rows": int(len(self.rows))}))

    @classmethod
    def load(cls, folder: str | Path) -> "NeighbourIndex":
        folder = Path(folder)
        meta = json.loads((folder / "meta.json").read_text())
        nb = cls(int(meta["k"]))
        nb.rows, nb.sims = np.load(folder / "rows.npy"), np.load(folder / "sims.npy")
        if nb.rows.shape != nb.sims.shape or nb.rows.shape[1:] != (nb.k,):
            raise DataError(f"neighbour index in {folder} is inconsistent (rows {nb.rows.shape}, sims "
                            f"{nb.sims.shape}, k {nb.k})", hint="rebuild the search index")
        return nb
