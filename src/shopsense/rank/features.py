"""Candidates merged from several sources, and the feature matrix the ranker scores.

A candidate keeps, per source that produced it, that source's rank, score and reason; features are
computed from those plus the user's profile (category / brand / price affinity, recent category) and
item popularity. Missing values are NaN (LightGBM handles them; the rule ranker reads them as 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from shopsense.rank.profile import UserProfile
from shopsense.types import Item, ItemList

FEATURES = ["search_score", "bm25", "cosine", "rr_search", "rr_cf", "rr_similar", "rr_trending",
            "rr_bought_together", "cf_score", "similar_score", "log_popularity", "cat_affinity",
            "brand_affinity", "price_z", "recent_category", "n_sources"]
_IDX = {f: i for i, f in enumerate(FEATURES)}


class Candidate:
    """One candidate item: per source that produced it, that source's rank, score and reason."""

    __slots__ = ("item_id", "sources", "search_reasons")

    def __init__(self, item_id: str, sources: dict[str, dict[str, Any]] | None = None,
                 search_reasons: list[dict[str, Any]] | None = None) -> None:
        self.item_id = item_id
        self.sources = sources if sources is not None else {}
        self.search_reasons = search_reasons if search_reasons is not None else []


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
    cats = prof.categories if prof else {}
    brands = prof.brands if prof else {}
    tot_c = sum(cats.values()) or 1.0
    tot_b = sum(brands.values()) or 1.0
    items, pop = ctx.items, ctx.popularity
    i_ss, i_bm, i_cos, i_cf, i_sim = (_IDX[f] for f in ("search_score", "bm25", "cosine", "cf_score", "similar_score"))
    i_ns, i_pop, i_ca, i_ba, i_pz, i_rc = (_IDX[f] for f in ("n_sources", "log_popularity", "cat_affinity",
                                                             "brand_affinity", "price_z", "recent_category"))
    rr = [(name, _IDX[f"rr_{name}"]) for name in ("search", "cf", "similar", "trending", "bought_together")]
    for i, c in enumerate(cands):
        row = X[i]
        s = c.sources
        for name, j in rr:
            v = s.get(name)
            row[j] = 1.0 / v["rank"] if v is not None else 0.0
        v = s.get("search")
        if v is not None:
            row[i_ss] = v["score"]
            for rs in c.search_reasons:
                src = rs.get("source")
                if src == "bm25":
                    row[i_bm] = rs.get("score", np.nan)
                elif src == "dense":
                    row[i_cos] = rs.get("cosine", np.nan)
        v = s.get("cf")
        if v is not None:
            row[i_cf] = v["score"]
        v = s.get("similar")
        if v is not None:
            row[i_sim] = v["score"]
        row[i_ns] = len(s)
        row[i_pop] = math.log1p(pop.get(c.item_id, 0.0))
        it = items.get(c.item_id)
        if it is None:
            row[i_ca] = row[i_ba] = row[i_rc] = 0.0
            continue
        cat = " > ".join(it.category) if it.category else ""
        row[i_ca] = cats.get(cat, 0.0) / tot_c if cat else 0.0
        row[i_ba] = brands.get(it.brand, 0.0) / tot_b if it.brand else 0.0
        if ps is not None and it.price is not None:
            row[i_pz] = abs(it.price - ps[0]) / (ps[1] + 1.0)
        row[i_rc] = 1.0 if rcat and cat == rcat else 0.0
    return X
