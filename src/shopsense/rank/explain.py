"""Explanations: one short sentence per returned item built from the signal that put it there,
plus a machine-readable breakdown (sources with rank/score, features, ranker, rules applied)."""

from __future__ import annotations

import math
from typing import Any

from shopsense.rank.features import Candidate
from shopsense.rank.profile import UserProfile
from shopsense.types import Item

_VERB = {"view": "viewed", "click": "viewed", "cart": "added to your cart", "purchase": "bought",
         "rating": "rated", "search": "searched for"}
_PRIORITY = {"search": 3.0, "similar": 2.5, "bought_together": 2.0, "cf": 1.5, "trending": 1.0}


def short_title(t: str, n: int = 48) -> str:
    return t if len(t) <= n else t[:n].rsplit(" ", 1)[0] + "…"


def short_category(path: str) -> str:
    last = path.split(" > ")[-1]
    if len(last) > 30:
        last = " ".join(last.split()[-3:])
    return last


def primary_source(c: Candidate) -> str | None:
    if not c.sources:
        return None
    return max(c.sources, key=lambda s: _PRIORITY.get(s, 0.5) / c.sources[s].get("rank", 1))


def sentence(c: Candidate, items: dict[str, Item], profile: UserProfile | None, query: str | None = None,
             pinned: bool = False) -> str:
    if pinned:
        return "Featured by the shop"
    src = primary_source(c)
    it = items.get(c.item_id)
    r = c.sources.get(src or "", {})
    because = items.get(r.get("because", "")) if r.get("because") else None
    if src == "search":
        matched: list[str] = []
        for rs in c.search_reasons:
            if rs.get("source") in ("bm25", "title_match"):
                matched = [w for w in rs.get("matched", []) if len(w) > 1]
        s = f"Matches '{' '.join(matched[:4])}'" if matched else f"Close in meaning to '{short_title(query or '', 30)}'"
    elif src == "similar" and because is not None:
        verb = "viewed"
        if profile is not None:
            for iid, t, _ in reversed(profile.recent):
                if iid == because.item_id:
                    verb = _VERB.get(t, "viewed")
                    break
        s = f"Because you {verb} {short_title(because.title)}" if r.get("personal", True) else \
            f"Similar to {short_title(because.title)}"
    elif src == "bought_together" and because is not None:
        s = f"Often bought together with {short_title(because.title)}"
    elif src == "cf":
        s = ("Shoppers who liked what you just viewed also bought this" if r.get("via") == "folded-in session"
             else "Shoppers with tastes like yours bought this")
    elif src == "trending":
        cat = short_category(it.category_path) if it and it.category else "the shop"
        s = f"Popular in {cat} this week" if r.get("half_life_days") else f"Popular in {cat}"
        if r.get("fallback") == "cold":
            s += " (no history yet)"
    else:
        s = "Recommended for you"
    if profile is not None and it is not None and it.category and src != "search":
        if profile.cat_affinity(it.category_path) >= 0.25:
            s += f" — you often shop {short_category(it.category_path)}"
    return s


def breakdown(c: Candidate, score: float, ranker: str, features: dict[str, float],
              notes: list[str]) -> dict[str, Any]:
    src = {k: {kk: vv for kk, vv in v.items() if kk in ("rank", "score", "because", "via", "half_life_days")}
           for k, v in c.sources.items()}
    for k, v in src.items():
        if "score" in v:
            v["score"] = round(float(v["score"]), 4) if math.isfinite(v["score"]) else None
    return {"score": round(float(score), 4), "ranker": ranker, "primary": primary_source(c), "sources": src,
            "features": {k: round(float(v), 4) for k, v in features.items() if math.isfinite(v)},
            "rules": notes}
