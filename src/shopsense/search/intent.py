"""Category intent: a probability over category paths for a query, used as a soft boost.

Two sources, blended: (1) encoder similarity between the query and each category path's name
(softmax with a temperature), (2) click/purchase logs — the categories of items shoppers clicked
or bought after the same normalised query — when present.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from shopsense.text.normalize import normalize

if TYPE_CHECKING:  # pragma: no cover
    from shopsense.types import Dataset

#: how much one logged event of each kind says about a query's category
LOG_WEIGHTS = {"click": 1.0, "cart": 2.0, "purchase": 3.0}


class CategoryIntent:
    def __init__(self, paths: list[str], path_vectors: np.ndarray | None, temperature: float = 0.05,
                 log_weight: float = 0.5) -> None:
        self.paths = paths
        self.vectors = path_vectors
        self.temperature = temperature
        self.log_weight = log_weight
        # query -> {category code: weight}. Written copy-on-write under `_lock` (a live server feeds it from
        # POST /events and the sync thread while searches read it without a lock): a published inner dict is
        # never changed, so a reader sees one query's counts either before or after an update, never halfway.
        self.log_counts: dict[str, dict[int, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def build(cls, paths: list[str], encoder, **kw) -> "CategoryIntent":
        vec = encoder.encode([p.replace(" > ", ", ") for p in paths]) if paths else None
        return cls(paths, vec, **kw)

    def add_logs(self, pairs: Iterable[tuple[str, int, float]]) -> None:
        """(query, category code, weight) triples from click (1) / cart / purchase (e.g. 3) events."""
        by_query: dict[str, dict[int, float]] = {}
        for q, code, w in pairs:
            if code < 0:
                continue
            d = by_query.setdefault(normalize(q), {})
            d[code] = d.get(code, 0.0) + w
        with self._lock:
            for q, add in by_query.items():
                d = dict(self.log_counts.get(q, {}))
                for code, w in add.items():
                    d[code] = d.get(code, 0.0) + w
                self.log_counts[q] = d

    def replace_logs(self, pairs: Iterable[tuple[str, int, float]]) -> None:
        """Forget every logged count and learn `pairs` instead (a rebuild from the whole event log)."""
        fresh = CategoryIntent([], None)
        fresh.add_logs(pairs)
        with self._lock:
            self.log_counts = fresh.log_counts

    def snapshot(self) -> dict[str, dict[int, float]]:
        with self._lock:
            return dict(self.log_counts)

    def predict(self, query_text: str, query_vec: np.ndarray | None) -> np.ndarray:
        """Probability per category code (sums to 1), zeros when there is nothing to go on."""
        n = len(self.paths)
        p = np.zeros(n)
        if n == 0:
            return p
        if self.vectors is not None and query_vec is not None:
            s = self.vectors @ np.asarray(query_vec, np.float32).reshape(-1)
            e = np.exp((s - s.max()) / self.temperature)
            p = e / e.sum()
        logs = self.log_counts.get(normalize(query_text))
        if logs:
            lp = np.zeros(n)
            for c, w in logs.items():
                if c < n:
                    lp[c] += w
            lp /= lp.sum()
            p = lp if not p.any() else (1 - self.log_weight) * p + self.log_weight * lp
        return p

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.vectors is not None:
            np.save(folder / "path_vectors.npy", self.vectors)
        tmp = folder / "intent.json.tmp"  # then renamed: `shopsense index` rewrites it beside a live index
        tmp.write_text(json.dumps({
            "paths": self.paths, "temperature": self.temperature, "log_weight": self.log_weight,
            "log_counts": {q: {str(c): w for c, w in d.items()} for q, d in self.snapshot().items()}}))
        tmp.replace(folder / "intent.json")

    @classmethod
    def load(cls, folder: str | Path) -> "CategoryIntent":
        folder = Path(folder)
        meta = json.loads((folder / "intent.json").read_text())
        vp = folder / "path_vectors.npy"
        ci = cls(meta["paths"], np.load(vp) if vp.exists() else None, meta["temperature"], meta["log_weight"])
        ci.log_counts = {q: {int(c): w for c, w in d.items()} for q, d in meta["log_counts"].items()}
        return ci


def query_log_pairs(dataset: "Dataset", row_of: Callable[[str], int], category_of: Callable[[int], int]
                    ) -> list[tuple[str, int, float]]:
    """(query, category code, weight) of every click / cart / purchase event in `dataset` that carries the
    query it followed (`Events.query`), for `CategoryIntent.add_logs`. `row_of(item_id)` is the search
    index row (-1 when the item is not indexed), `category_of(row)` its category code."""
    from shopsense.types import EVENT_CODES

    ev = dataset.events
    if not ev.query:
        return []
    weight = {EVENT_CODES[k]: w for k, w in LOG_WEIGHTS.items()}
    ids = dataset.item_vocab.ids
    out = []
    for i, q in enumerate(ev.query):
        if not q:
            continue
        w, item = weight.get(int(ev.type[i])), int(ev.item[i])
        if w is None or item < 0:
            continue
        row = row_of(ids[item])
        if row >= 0:
            out.append((q, category_of(row), w))
    return out
