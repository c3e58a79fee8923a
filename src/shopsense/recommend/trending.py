"""Trending (time-decayed popularity) and plain popularity.

score_i(t) = sum over events e on item i of  w[type_e] * 2 ** (-(t - t_e) / half_life)

Kept as scores at a reference time `t_ref`; `update(events)` decays the stored scores to the newest
event time and adds the new events, so the ranking is recomputed incrementally, never from scratch.
Per category: `recommend(None, filters={"category": c})` or `top_by_category(n)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from shopsense.errors import DataError
from shopsense.recommend.base import Context, Recommender
from shopsense.recommend.config import TrendingConfig
from shopsense.types import EVENT_NAMES, Dataset, Events, ItemList

_DAY = 86_400.0


class TrendingRecommender(Recommender):
    kind = "trending"
    source = "trending"
    config_cls = TrendingConfig

    def _weights(self) -> np.ndarray:
        w = self.config.event_weights
        unknown = set(w) - set(EVENT_NAMES)
        if unknown:
            raise DataError(f"unknown event types in event_weights: {sorted(unknown)}", field="event_weights",
                            hint=f"use {EVENT_NAMES}")
        return np.array([float(w.get(name, 0.0)) for name in EVENT_NAMES])

    def _fit(self, dataset: Dataset) -> None:
        self.scores = np.zeros(dataset.n_items, dtype=np.float64)
        ev = dataset.events
        self.t_ref = float(ev.timestamp.max()) if len(ev) else 0.0
        self.update(ev)

    def update(self, events: Events) -> "TrendingRecommender":
        """Fold new events (rows of this model's item vocabulary) into the scores, in O(len(events))."""
        m = events.item >= 0
        if not m.any():
            return self
        items, types, ts = events.item[m], events.type[m].astype(np.int64), events.timestamp[m]
        if items.max() >= len(self.scores):
            raise DataError("update() got events on items this model does not know", field="item",
                            hint="refit the model after adding items to the catalog")
        t_new = max(self.t_ref, float(ts.max()))
        hl = self.config.half_life_days
        if hl is not None and t_new > self.t_ref:
            self.scores *= 2.0 ** (-(t_new - self.t_ref) / (hl * _DAY))
        self.t_ref = t_new
        w = self._weights()[types]
        if hl is not None:
            w = w * 2.0 ** (-(t_new - ts) / (hl * _DAY))
        np.add.at(self.scores, items, w)
        return self

    def _score_batch(self, contexts: list[Context]) -> list[tuple[np.ndarray, dict[str, Any]] | None]:
        reason = {"source": self.source}
        if self.config.half_life_days is not None:
            reason["half_life_days"] = self.config.half_life_days
        return [(self.scores, reason) for _ in contexts]

    def top_by_category(self, n: int = 10, level: int = 0) -> dict[str, ItemList]:
        """Trending items of every category at `level` of the category path (0 = root)."""
        cats = sorted({c[level] for c in self.item_meta["category"] if len(c) > level})
        return {c: self.recommend(None, n, filters={"category": c}) for c in cats}

    def _save_state(self, path: Path) -> dict[str, Any]:
        from shopsense.recommend.persist import save_npy

        save_npy(path, "trending_scores", self.scores)
        return {"t_ref": self.t_ref}

    def _load_state(self, path: Path, meta: dict[str, Any]) -> None:
        from shopsense.recommend.persist import load_npy

        self.scores, self.t_ref = load_npy(path, "trending_scores"), float(meta["t_ref"])


class PopularityRecommender(TrendingRecommender):
    """All-time popularity (event-weighted counts, no decay)."""

    kind = "popularity"
    source = "popular"

    def __init__(self, config: TrendingConfig | None = None, *, exclude_seen: bool = True) -> None:
        super().__init__(config or TrendingConfig(half_life_days=None), exclude_seen=exclude_seen)
