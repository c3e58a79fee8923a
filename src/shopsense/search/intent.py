"""Category intent: a probability over category paths for a query, used as a soft boost.

Two sources, blended: (1) encoder similarity between the query and each category path's name
(softmax with a temperature), (2) click/purchase logs — the categories of items shoppers clicked
or bought after the same normalised query — when present.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

import numpy as np

from shopsense.text.normalize import normalize


class CategoryIntent:
    def __init__(self, paths: list[str], path_vectors: np.ndarray | None, temperature: float = 0.05,
                 log_weight: float = 0.5) -> None:
        self.paths = paths
        self.vectors = path_vectors
        self.temperature = temperature
        self.log_weight = log_weight
        self.log_counts: dict[str, dict[int, float]] = {}

    @classmethod
    def build(cls, paths: list[str], encoder, **kw) -> "CategoryIntent":
        vec = encoder.encode([p.replace(" > ", ", ") for p in paths]) if paths else None
        return cls(paths, vec, **kw)

    def add_logs(self, pairs: Iterable[tuple[str, int, float]]) -> None:
        """(query, category code, weight) triples from click (1) / cart / purchase (e.g. 3) events."""
        for q, code, w in pairs:
            if code < 0:
                continue
            d = self.log_counts.setdefault(normalize(q), {})
            d[code] = d.get(code, 0.0) + w

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
        (folder / "intent.json").write_text(json.dumps({
            "paths": self.paths, "temperature": self.temperature, "log_weight": self.log_weight,
            "log_counts": {q: {str(c): w for c, w in d.items()} for q, d in self.log_counts.items()}}))

    @classmethod
    def load(cls, folder: str | Path) -> "CategoryIntent":
        folder = Path(folder)
        meta = json.loads((folder / "intent.json").read_text())
        vp = folder / "path_vectors.npy"
        ci = cls(meta["paths"], np.load(vp) if vp.exists() else None, meta["temperature"], meta["log_weight"])
        ci.log_counts = {q: {int(c): w for c, w in d.items()} for q, d in meta["log_counts"].items()}
        return ci
