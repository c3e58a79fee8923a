"""Candidates merged from several sources, and the feature matrix the ranker scores.

A candidate keeps, per source that produced it, that source's rank, score and reason; features are
computed from those plus the user's profile (category / brand / price affinity, recent category) and
item popularity. Missing values are NaN (LightGBM handles them; the rule ranker reads them as 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shopsense.rank.profile import UserProfile
from shopsense.types import Item, ItemList

FEATURES = ["search_score", "bm25", "cosine", "rr_search", "rr_cf", "rr_similar", "rr_trending",
            "rr_bought_together", "cf_score", "similar_score", "log_popularity", "cat_affinity",
            "brand_affinity", "price_z", "recent_category", "n_sources"]
_IDX = {f: i for i, f in enumerate(FEATURES)}


@dataclass
class Candidate:
    item_id: str
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    search_reasons: list[dict[str, Any]] = field(default_factory=list)


def merge(lists: dict[str, ItemList]) -> list[Candidate]:
    """Union of the sources' lists, first-seen order; each candidate remembers every source's rank/score."""
    out: dict[str, Candidate] = {}
    for name, il in lists.items():
        for r, (iid, score, reasons) in enumerate(il):
            c = out.get(iid)
            if c is None:
                c = out[iid] = Candidate(iid)
            main = dict(reasons[0]) if reasons else {}
            main.update(rank=r + 1, score=float(score))
            c.sources[name] = main
            if name == "search":
                c.search_reasons = list(reasons)
    return list(out.values())


@dataclass
class FeatureContext:
    items: dict[str, Item]
    popularity: dict[str, float]
    profile: UserProfile | None = None

    def recent_category(self) -> str | None:
        if self.profile is None:
            return None
        for iid in self.profile.recent_items(1):
            it = self.items.get(iid)
            return it.category_path if it and it.category else None
        return None


def featurize(cands: list[Candidate], ctx: FeatureContext) -> np.ndarray:
    X = np.full((len(cands), len(FEATURES)), np.nan, dtype=np.float64)
    prof = ctx.profile
    ps = prof.price_stats() if prof else None
    rcat = ctx.recent_category()
    for i, c in enumerate(cands):
        row = X[i]
        s = c.sources
        for name in ("search", "cf", "similar", "trending", "bought_together"):
            if name in s:
                row[_IDX[f"rr_{name}"]] = 1.0 / s[name]["rank"]
            else:
                row[_IDX[f"rr_{name}"]] = 0.0
        if "search" in s:
            row[_IDX["search_score"]] = s["search"]["score"]
            for rs in c.search_reasons:
                if rs.get("source") == "bm25":
                    row[_IDX["bm25"]] = rs.get("score", np.nan)
                elif rs.get("source") == "dense":
                    row[_IDX["cosine"]] = rs.get("cosine", np.nan)
        if "cf" in s:
            row[_IDX["cf_score"]] = s["cf"]["score"]
        if "similar" in s:
            row[_IDX["similar_score"]] = s["similar"]["score"]
        row[_IDX["n_sources"]] = len(s)
        row[_IDX["log_popularity"]] = math.log1p(ctx.popularity.get(c.item_id, 0.0))
        it = ctx.items.get(c.item_id)
        cat = it.category_path if it and it.category else ""
        if prof is not None and it is not None:
            row[_IDX["cat_affinity"]] = prof.cat_affinity(cat) if cat else 0.0
            row[_IDX["brand_affinity"]] = prof.brand_affinity(it.brand) if it.brand else 0.0
            if ps is not None and it.price is not None:
                row[_IDX["price_z"]] = abs(it.price - ps[0]) / (ps[1] + 1.0)
        else:
            row[_IDX["cat_affinity"]] = row[_IDX["brand_affinity"]] = 0.0
        row[_IDX["recent_category"]] = 1.0 if rcat and cat == rcat else 0.0
    return X
