"""Fill missing category / brand / attribute values by prediction from text.

A weighted kNN vote over encoder embeddings of the items that *have* the value (sklearn's
NearestNeighbors, cosine). Each fill carries its confidence (the winning share of the similarity-
weighted vote) and its source; values the shop gave are never touched — fills are proposals kept
beside them (`store.record_fills`).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from shopsense.errors import DataError
from shopsense.quality.config import MissingConfig
from shopsense.types import Item


@dataclass(frozen=True)
class Fill:
    item_id: str
    field: str  # "category", "brand" or "attributes.<key>"
    value: Any
    confidence: float
    source: str

    def row(self) -> tuple[str, str, Any, float, str]:
        return (self.item_id, self.field, self.value, self.confidence, self.source)


def _get(item: Item, field: str) -> Any:
    if field == "category":
        return tuple(item.category) if item.category else None
    if field == "brand":
        return item.brand or None
    if field.startswith("attributes."):
        v = item.attributes.get(field.split(".", 1)[1])
        return None if v in (None, "", []) else (tuple(v) if isinstance(v, list) else v)
    raise DataError(f"cannot fill field {field!r}", field=field, hint="use category, brand or attributes.<key>")


def fill_missing(items: Sequence[Item], embeddings: np.ndarray, config: MissingConfig | None = None, *,
                 source: str = "knn") -> list[Fill]:
    """Propose values for missing fields. `embeddings` rows align with `items` (L2-normalised text
    vectors of title/description — not of the field being predicted)."""
    cfg = config or MissingConfig()
    emb = np.asarray(embeddings, np.float32)
    if emb.ndim != 2 or len(emb) != len(items):
        raise DataError(f"embeddings shape {emb.shape} does not match {len(items)} items", field="embeddings")
    from sklearn.neighbors import NearestNeighbors

    fields = list(cfg.fields) + [f"attributes.{k}" for k in cfg.attributes]
    fills: list[Fill] = []
    for field in fields:
        vals = [_get(it, field) for it in items]
        have = np.array([v is not None for v in vals])
        if have.all() or not have.any():
            continue
        known = np.flatnonzero(have)
        k = min(cfg.k, len(known))
        nn = NearestNeighbors(n_neighbors=k, metric="cosine").fit(emb[known])
        dist, idx = nn.kneighbors(emb[~have])
        for row, d, nb in zip(np.flatnonzero(~have), dist, idx):
            votes: dict[Any, float] = defaultdict(float)
            for dd, j in zip(d, nb):
                votes[vals[known[j]]] += max(0.0, 1.0 - float(dd))  # cosine similarity as the vote weight
            total = sum(votes.values())
            if total <= 0:
                continue
            value, w = max(votes.items(), key=lambda kv: kv[1])
            conf = w / total
            if conf < cfg.min_confidence:
                continue
            out = list(value) if isinstance(value, tuple) else value
            fills.append(Fill(items[row].item_id, field, out, round(conf, 4), f"{source}:k={k}"))
    return fills


def apply_fills(items: Sequence[Item], fills: Sequence[Fill]) -> list[Item]:
    """Copies of `items` with fills applied *only where the shop gave no value* (for models that want
    the filled view; the store keeps fills in their own table)."""
    by_id: dict[str, list[Fill]] = defaultdict(list)
    for f in fills:
        by_id[f.item_id].append(f)
    out = []
    for it in items:
        fs = by_id.get(it.item_id)
        if not fs:
            out.append(it)
            continue
        upd: dict[str, Any] = {}
        attrs = dict(it.attributes)
        for f in fs:
            if _get(it, f.field) is not None:
                continue  # never overwrite a value the shop gave
            if f.field.startswith("attributes."):
                attrs[f.field.split(".", 1)[1]] = f.value
            else:
                upd[f.field] = f.value
        out.append(it.model_copy(update={**upd, "attributes": attrs}))
    return out
