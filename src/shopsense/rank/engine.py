"""`ServingEngine`: candidates from several sources -> features -> one ranker -> rules -> diversity
-> pins -> explanations. Immutable once built (models only); per-user state lives in a `ProfileBook`
passed in by the caller, so a model swap never loses session state.

    eng = build_engine(settings, dataset)             # rank/build.py
    eng.recommend(user_key, profile, n=10)            # list of result dicts with explanations
    eng.search("nonstick pan", profile, n=10, filters={"brand": ["X"]}, facets=True)
"""

from __future__ import annotations

import time
from typing import Any, Iterable

import numpy as np

from shopsense.rank.config import RankConfig
from shopsense.rank.explain import breakdown, sentence
from shopsense.rank.features import FEATURES, Candidate, FeatureContext, featurize, merge
from shopsense.rank.profile import UserProfile
from shopsense.rank.ranker import LGBMRanker, RuleRanker
from shopsense.rank.rules import SimilarityCodes, apply_rules, diversify, keep_recent_slots, normalise, place_pins
from shopsense.rank.sources import Sources
from shopsense.types import Item, ItemList


class ServingEngine:
    def __init__(self, items: dict[str, Item], sources: Sources, config: RankConfig,
                 popularity: dict[str, float], learned: LGBMRanker | None = None, version: str = "") -> None:
        self.items = items
        self.sources = sources
        self.config = config
        self.popularity = popularity
        self.rules_ranker = RuleRanker(config.rule_weights)
        self.learned = learned
        self.version = version or time.strftime("%Y%m%dT%H%M%S") + f"-{time.time_ns() // 1000 % 1_000_000:06d}"
        self.built_at = time.time()
        self.info: dict[str, Any] = {}
        self.similarity_codes = SimilarityCodes(items)  # built on first use (the warm-up's)

    @property
    def ranker(self) -> RuleRanker | LGBMRanker:
        if self.config.ranker == "rules" or self.learned is None:
            return self.rules_ranker
        return self.learned

    # -- candidates ----------------------------------------------------------------------------
    def rec_candidates(self, user_key: str | None, profile: UserProfile | None,
                       exclude: set[str] | None = None) -> list[Candidate]:
        """Union of the enabled sources' candidates (fallback chain: empty/failed sources are skipped;
        trending is always asked when nothing else produced enough)."""
        cfg, n = self.config, self.config.n_candidates
        recent = profile.recent_items(cfg.similar_history) if profile else []
        history = profile.recent_items(cfg.profile_recent) if profile else []
        lists: dict[str, ItemList] = {}
        for name in cfg.sources:
            if name == "cf":
                lists["cf"] = self.sources.cf(user_key, history, n)
            elif name == "similar":
                lists["similar"] = self.sources.similar_history(recent, n)
            elif name == "bought_together":
                lists["bought_together"] = self.sources.bought_together_history(recent, n // 2)
            elif name == "trending":
                lists["trending"] = self.sources.trending(n // 2 if recent else n)
        if sum(len(v) for v in lists.values()) < n // 4 and "trending" not in lists:
            lists["trending"] = self.sources.trending(n)  # last resort of the fallback chain
        return merge({k: v for k, v in lists.items() if len(v)})

    # -- the shared tail -----------------------------------------------------------------------
    def _finish(self, cands: list[Candidate], profile: UserProfile | None, n: int, exclude: set[str],
                query: str | None = None, extra_scores: np.ndarray | None = None, pins: bool = True,
                personal_sim: bool = True) -> list[dict[str, Any]]:
        if not cands:
            return []
        ctx = FeatureContext(self.items, self.popularity, profile)
        ranker = self.ranker if extra_scores is None else self.rules_ranker
        # features are per candidate: with scores given (search, item pages) only the returned items
        # need them, for their breakdown — 10 rows instead of every candidate
        X = featurize(cands, ctx) if extra_scores is None else None
        scores = ranker.score(X) if extra_scores is None else extra_scores
        ids = [c.item_id for c in cands]
        purchased = profile.purchased if profile else None
        keep, rel, notes = apply_rules(ids, normalise(np.asarray(scores, float)), self.items, self.config,
                                       purchased, exclude)
        idx = np.flatnonzero(keep)
        order = diversify([ids[i] for i in idx], rel[idx], self.items, n, self.config.mmr_lambda,
                          self.config.category_cap, self.similarity_codes)
        chosen = [int(idx[j]) for j in order]
        latest = profile.recent_items(1) if extra_scores is None and profile is not None else []
        if latest and self.config.recent_slots:  # a shopper with no history has nothing to keep slots for
            tied = [any(s.get("because") == latest[0] for s in c.sources.values()) for c in cands]
            ranked = [int(i) for i in idx[np.argsort(-rel[idx], kind="stable")]]
            chosen = keep_recent_slots(chosen, ranked, tied, min(self.config.recent_slots, n))
        by_id = {ids[i]: i for i in chosen}
        final_ids = [ids[i] for i in chosen]
        pinned: set[str] = set()
        if pins and self.config.pinned:
            pin_ok = {p for p in self.config.pinned if p in self.items and p not in exclude
                      and apply_rules([p], np.ones(1), self.items, self.config, purchased, exclude)[0][0]}
            final_ids, pinned = place_pins(final_ids, self.config.pinned, pin_ok, n)
        if X is None:
            X = np.full((len(cands), len(FEATURES)), np.nan)
            shown = [i for i in (by_id.get(iid) for iid in final_ids) if i is not None]
            if shown:
                X[shown] = featurize([cands[i] for i in shown], ctx)
        out = []
        for iid in final_ids:
            i = by_id.get(iid)
            c = cands[i] if i is not None else Candidate(iid, {"pinned": {"rank": 1}})
            feats = dict(zip(FEATURES, X[i])) if i is not None else {}
            note = notes[i] + (["pinned"] if iid in pinned else []) if i is not None else ["pinned"]
            if not personal_sim:
                for s in c.sources.values():
                    s["personal"] = False
            it = self.items[iid]
            out.append({"item_id": iid, "title": it.title, "category": it.category_path, "brand": it.brand,
                        "price": it.price,
                        "score": round(float(scores[i]), 4) if i is not None and np.isfinite(scores[i]) else None,
                        "explanation": sentence(c, self.items, profile, query, pinned=iid in pinned),
                        "breakdown": breakdown(c, float(scores[i]) if i is not None else 0.0,
                                               "pinned" if i is None else ranker.name, feats, note)})
        return out

    # -- requests ------------------------------------------------------------------------------
    def recommend(self, user_key: str | None, profile: UserProfile | None, n: int = 10,
                  exclude: set[str] | None = None) -> list[dict[str, Any]]:
        ex = set(exclude or ())
        if profile is not None:
            ex.update(profile.recent_items(self.config.similar_history))
        cands = self.rec_candidates(user_key, profile, ex)
        return self._finish(cands, profile, n, ex)

    def search(self, query: str, profile: UserProfile | None, n: int = 10, filters: dict | None = None,
               facets: bool = True, query_vector=None) -> dict[str, Any]:
        """`query_vector`: the encoding of `sources.search_engine.dense_query(query)` when the caller
        has it (the server encodes concurrent requests' queries in one batch)."""
        k = max(n, self.config.search_candidates)
        hits, fc, total, parsed = self.sources.search(query, k, filters, facets, query_vector)
        cands = merge({"search": hits})
        base = hits.scores.astype(float)
        label = "search"
        if profile is not None and len(cands):
            # personalised search: the learned ranker when it was trained on logged search sessions,
            # else the engine's relevance moved by the profile's affinities (the rule-based blend)
            X = featurize(cands, FeatureContext(self.items, self.popularity, profile))
            if self.search_ranker is not None:
                base, label = self.search_ranker.score(X), "lgbm (search sessions)"
            else:
                from shopsense.rank.search_train import blend_scores

                base, label = blend_scores(X, self.config.search_personal_weight), "search+profile"
        results = self._finish(cands, profile, n, set(), query=query, extra_scores=base, pins=False)
        for r in results:
            r["breakdown"]["ranker"] = label
        return {"query": query, "parsed": parsed, "total": total, "facets": fc, "results": results}

    @property
    def search_ranker(self) -> LGBMRanker | None:
        """The learned ranker, if it saw enough logged search sessions to rank search results."""
        lr = self.learned
        if self.config.ranker == "rules" or lr is None:
            return None
        return lr if lr.meta.get("search_groups", 0) >= self.config.lgbm.min_queries else None

    def similar(self, item_id: str, n: int = 10) -> list[dict[str, Any]]:
        cands = merge({"similar": self.sources.similar_item(item_id, self.config.n_candidates)})
        scores = np.array([c.sources["similar"]["score"] for c in cands])
        return self._finish(cands, None, n, {item_id}, extra_scores=scores, pins=False, personal_sim=False)

    def bought_together(self, item_id: str, n: int = 10) -> list[dict[str, Any]]:
        cands = merge({"bought_together": self.sources.bought_together_item(item_id, self.config.n_candidates)})
        scores = np.array([c.sources["bought_together"]["score"] for c in cands])
        return self._finish(cands, None, n, {item_id}, extra_scores=scores, pins=False)

    def trending(self, n: int = 10, category: str | None = None) -> list[dict[str, Any]]:
        cands = merge({"trending": self.sources.trending(max(n * 3, n), category)})
        scores = np.array([c.sources["trending"]["score"] for c in cands])
        return self._finish(cands, None, n, set(), extra_scores=scores, pins=category is None)

    def warm_up(self) -> None:
        """One search and one recommendation before the first request: the first search of a fresh engine
        builds lazy structures (measured ~1 s on the 100k-item benchmark catalog), which would otherwise
        stall the first shopper's request and every request queued behind it."""
        import logging

        try:
            if self.sources.search_engine is not None:
                self.sources.search_engine.warm_up()
            self.similarity_codes.build()
            self.search("warm up", None, 1)
            self.recommend(None, None, 1)
        except Exception as e:  # noqa: BLE001 - a warm-up failure must not stop the server; requests report it
            logging.getLogger(__name__).warning("warm-up failed: %s", e)

    # -- real time -----------------------------------------------------------------------------
    def learn_query_logs(self, dataset: Any) -> int:
        """Rebuild search's category intent from every logged search that led to a click, cart or purchase
        in `dataset` (`SearchEngine.learn_query_logs`); 0 without a search index."""
        se = self.sources.search_engine
        return se.learn_query_logs(dataset) if se is not None else 0

    def observe_queries(self, rows: Iterable[tuple[str, str | None, str | None, str, float]]) -> int:
        """(user, query, item id, event type, time) of posted events, in time order: category intent learns
        from them at once (`SearchEngine.add_query_rows`)."""
        se = self.sources.search_engine
        return se.add_query_rows(rows) if se is not None else 0

    def forget_searches(self, user: str) -> None:
        """Drop an erased shopper's pending live search (it names no one else, and is kept nowhere else)."""
        se = self.sources.search_engine
        if se is not None and se.intent is not None:
            se.intent.pop_search(user)

    def observe(self, rows: list[tuple[str, str | None, str, float]]) -> None:
        """Fold posted events into trending scores (O(len(rows)); the ranking reflects them at once)."""
        m = self.sources.models.get("trending")
        if m is None:
            return
        from shopsense.types import EVENT_CODES, Events

        keep = [(m.item_vocab.get(i), EVENT_CODES[t], ts) for _, i, t, ts in rows if i and i in m.item_vocab]
        if not keep:
            return
        it, ty, ts = (np.array(x) for x in zip(*keep))
        z = np.zeros(len(keep), np.int64)
        try:
            m.update(Events(z, it.astype(np.int64), ty.astype(np.int8), np.full(len(keep), np.nan, np.float32),
                            ts.astype(np.float64), z - 1, []))
            self.sources.trending_changed()
        except Exception:  # noqa: BLE001 - trending refresh is best effort
            self.sources.errors["trending_update"] += 1
