"""Cold start: one recommender that always has an answer.

Routing, per query:
- a known user with history              -> the personal model (sequential or CF)
- an unknown user with a session history -> item-to-item (co-visitation + text similarity), so a
  session on brand-new items (no events) still gets neighbours through their text embedding
- nobody / only unknown items            -> trending
Brand-new items reach users through the text part of the fused sequential model and of item-to-item.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from shopsense.recommend.base import Context, Recommender
from shopsense.recommend.config import RecommendConfig
from shopsense.types import Dataset, ItemList


class HybridRecommender(Recommender):
    kind = "hybrid"
    config_cls = RecommendConfig

    def __init__(self, config: RecommendConfig | None = None, *, exclude_seen: bool | None = None, encoder=None,
                 text_config=None, progress: bool = True) -> None:
        config = config or RecommendConfig()
        super().__init__(config, exclude_seen=config.exclude_seen if exclude_seen is None else exclude_seen)
        self._encoder, self._text_config, self.progress = encoder, text_config, progress
        self.parts: dict[str, Recommender] = {}

    def _make_parts(self) -> dict[str, Recommender]:
        from shopsense.recommend.personal import CFRecommender, SequentialRecommender
        from shopsense.recommend.similar import SimilarItemsRecommender
        from shopsense.recommend.trending import TrendingRecommender

        c, ex = self.config, self.exclude_seen
        personal = (SequentialRecommender(c.sequential, exclude_seen=ex, encoder=self._encoder,
                                          text_config=self._text_config, progress=self.progress)
                    if c.personal == "sequential" else CFRecommender(c.cf, exclude_seen=ex))
        return {"trending": TrendingRecommender(c.trending, exclude_seen=ex),
                "similar": SimilarItemsRecommender(c.similar, exclude_seen=ex, encoder=self._encoder,
                                                   text_config=self._text_config),
                "personal": personal}

    def _fit(self, dataset: Dataset) -> None:
        from tqdm.auto import tqdm

        self.parts = self._make_parts()
        for name, part in tqdm(list(self.parts.items()), desc="fitting recommenders", disable=not self.progress):
            part.fit(dataset)

    def _score_batch(self, contexts: list[Context]) -> list[tuple[np.ndarray, dict[str, Any]] | None]:
        routes = []
        for ctx in contexts:
            if ctx.user >= 0 and len(ctx.history):
                routes.append("personal")
            elif len(ctx.history):
                routes.append("similar")
            else:
                routes.append("trending")
        out: list[tuple[np.ndarray, dict[str, Any]] | None] = [None] * len(contexts)
        for name in ("personal", "similar", "trending"):
            idx = [i for i, r in enumerate(routes) if r == name]
            if not idx:
                continue
            scored = self.parts[name]._score_batch([contexts[i] for i in idx])
            for i, s in zip(idx, scored):
                if s is None and name != "trending":  # e.g. a similar-items query with no neighbours
                    s = self.parts["trending"]._score_batch([contexts[i]])[0]
                    name_used = "trending"
                else:
                    name_used = name
                if s is not None:
                    out[i] = (s[0], {**s[1], "route": name_used})
        return out

    def _explain(self, ctx: Context, item_rows: np.ndarray, reason: dict[str, Any]) -> list[dict[str, Any]]:
        part = self.parts.get(reason.get("route", ""), None)
        if part is None:
            return super()._explain(ctx, item_rows, reason)
        return part._explain(ctx, item_rows, reason)

    def similar(self, item_id: str, n: int = 10, **kw) -> ItemList:
        return self.parts["similar"].recommend([item_id], n, **kw)

    def _save_state(self, path: Path) -> dict[str, Any]:
        for name, part in self.parts.items():
            part.save(path / name)
        return {"parts": list(self.parts)}

    def _load_state(self, path: Path, meta: dict[str, Any]) -> None:
        from shopsense.recommend.persist import load_recommender

        self.parts = {name: load_recommender(path / name) for name in meta["parts"]}
