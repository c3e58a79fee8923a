"""Rank stage units: profiles, rules, diversity, pins, explanations, sources' fallback, the ranker."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.rank.config import LGBMConfig, RankConfig
from shopsense.rank.explain import sentence
from shopsense.rank.features import FEATURES, Candidate, FeatureContext, featurize, merge
from shopsense.rank.profile import ProfileBook
from shopsense.rank.rules import apply_rules, diversify, keep_recent_slots, place_pins
from shopsense.rank.sources import Sources
from shopsense.types import Item, ItemList


def _items():
    its = [Item(item_id=f"i{k}", title=f"thing {k}", category=["A" if k < 5 else "B"], brand="X" if k % 2 else "Y",
                price=10.0 * (k + 1), stock=0 if k == 3 else None) for k in range(10)]
    its.append(Item(item_id="blk", title="blocked", category=["Weapons", "Knives"]))
    return {i.item_id: i for i in its}


def test_profile_affinities_and_recent():
    items = _items()
    book = ProfileBook({"view": 1.0, "purchase": 4.0})
    book.apply([("u", "i0", "view", 1.0), ("u", "i1", "purchase", 2.0), ("u", "i6", "view", 3.0)], items.get)
    p = book.get("u")
    assert p.cat_affinity("A") == pytest.approx(5 / 6) and p.cat_affinity("B") == pytest.approx(1 / 6)
    assert p.recent_items(2) == ["i6", "i1"] and p.purchased == {"i1"}
    mean, _ = p.price_stats()
    assert mean == pytest.approx((10 + 4 * 20 + 70) / 6)
    d = p.to_dict()
    assert d["category_affinity"]["A"] > d["category_affinity"]["B"] and d["live_events"] == 3


def test_rules_exclude_and_boost():
    items = _items()
    cfg = RankConfig(blocked_categories=["Weapons"], boosts={"i2": 2.0})
    ids = ["i1", "i2", "i3", "blk", "i4", "missing"]
    keep, rel, notes = apply_rules(ids, np.full(6, 0.5), items, cfg, purchased={"i1"}, exclude={"i4"})
    assert keep.tolist() == [False, True, False, False, False, False]
    assert rel[1] == 1.0 and notes[1] == ["boosted x2"]


def test_diversity_mmr_and_category_cap():
    items = _items()
    ids = [f"i{k}" for k in range(10)]
    rel = np.linspace(1, 0.1, 10)  # A items first
    assert diversify(ids, rel, items, 4, lam=1.0, cap=None) == [0, 1, 2, 3]
    capped = diversify(ids, rel, items, 4, lam=1.0, cap=2)
    assert [items[ids[j]].category[0] for j in capped] == ["A", "A", "B", "B"]
    only_a = ids[:5]
    assert diversify(only_a, rel[:5], items, 4, lam=1.0, cap=2) == [0, 1, 2, 3]  # demoted, never dropped
    mixed = diversify(ids, rel, items, 4, lam=0.3, cap=None)
    assert {items[ids[j]].category[0] for j in mixed[:2]} == {"A", "B"}


def test_pins():
    order, pinned = place_pins(["a", "b", "c"], {"z": 1, "b": 3}, None, 3)
    assert order == ["z", "a", "b"] and pinned == {"z", "b"}
    order, pinned = place_pins(["a", "b"], {"z": 1}, set(), 2)
    assert order == ["a", "b"] and not pinned


def test_recent_slots_bring_in_items_of_the_latest_click():
    tied = [False, False, False, True, False, True, True]
    ranked = [0, 1, 2, 4, 3, 6, 5]  # best first; 3, 6, 5 are "because of the latest item"
    assert keep_recent_slots([0, 1, 2, 4], ranked, tied, 2) == [0, 1, 3, 6]  # the best two, at the freed places
    assert keep_recent_slots([0, 3, 1, 2], ranked, tied, 2) == [0, 3, 1, 6]  # one already shown: one more
    assert keep_recent_slots([3, 6, 0], ranked, tied, 2) == [3, 6, 0]  # enough already
    assert keep_recent_slots([0, 1], ranked, [False] * 7, 2) == [0, 1]  # nothing tied to the click
    assert keep_recent_slots([0, 1, 2], ranked, tied, 0) == [0, 1, 2]  # off
    assert keep_recent_slots([0], ranked, tied, 3) == [3]  # a short page is all tied, not longer


def test_merge_features_and_explanations():
    items = _items()
    lists = {"cf": ItemList(["i1", "i2"], np.array([0.9, 0.8]), [[{"source": "als"}], [{"source": "als"}]]),
             "similar": ItemList(["i2"], np.array([0.5]), [[{"source": "similar", "because": "i0"}]])}
    cands = merge(lists)
    assert [c.item_id for c in cands] == ["i1", "i2"] and set(cands[1].sources) == {"cf", "similar"}
    book = ProfileBook({"view": 1.0})
    book.apply([("u", "i0", "view", 1.0)], items.get)
    X = featurize(cands, FeatureContext(items, {"i1": 10.0}, book.get("u")))
    assert X.shape == (2, len(FEATURES))
    assert X[1, FEATURES.index("rr_similar")] == 1.0 and X[0, FEATURES.index("rr_similar")] == 0.0
    assert X[0, FEATURES.index("cat_affinity")] == 1.0
    assert sentence(cands[1], items, book.get("u")).startswith("Because you viewed thing 0")
    assert sentence(cands[0], items, None) == "Shoppers with tastes like yours bought this"
    trend = Candidate("i7", {"trending": {"rank": 1, "half_life_days": 7}})
    assert sentence(trend, items, None) == "Popular in B this week"
    s = Candidate("i1", {"search": {"rank": 1}}, [{"source": "bm25", "matched": ["nonstick"]}])
    assert sentence(s, items, None, "nonstick pan") == "Matches 'nonstick'"


def test_failing_source_never_breaks():
    class Broken:
        user_vocab = {"u"}

        def recommend(self, *a, **k):
            raise RuntimeError("boom")

    src = Sources({"cf": Broken()})
    assert len(src.cf("u", [], 10)) == 0 and src.errors["cf"] == 1
    assert len(src.trending(5)) == 0  # missing model -> empty, not an error
    hits, _, total, parsed = src.search("thing", 5, None, False)  # no engine: title-match fallback
    assert len(hits) == 0 and parsed.get("fallback") == "title match"


def test_lgbm_ranker_learns_and_round_trips(tmp_path):
    from shopsense.rank.ranker import LGBMRanker

    rng = np.random.default_rng(0)
    groups, Xs, ys = [], [], []
    for _ in range(120):
        X = rng.random((20, len(FEATURES)))
        y = np.zeros(20)
        y[np.argmax(X[:, FEATURES.index("cat_affinity")])] = 1
        Xs.append(X), ys.append(y), groups.append(20)
    r = LGBMRanker.train(np.vstack(Xs), np.concatenate(ys), groups, LGBMConfig(n_estimators=30, min_child_samples=5))
    X = rng.random((20, len(FEATURES)))
    assert np.argmax(r.score(X)) == np.argmax(X[:, FEATURES.index("cat_affinity")])
    r2 = LGBMRanker.load(r.save(tmp_path / "rk"))
    assert np.allclose(r.score(X), r2.score(X))
    assert max(r.contributions(X[0]), key=lambda k: abs(r.contributions(X[0])[k])) == "cat_affinity"


def _diversify_reference(ids, rel, items, n, lam, cap):
    """The plain MMR loop (one candidate per turn) that `diversify` must reproduce exactly."""
    from shopsense.rank.rules import _codes

    m = len(ids)
    cats, cc, bc = _codes(ids, items)
    cc, bc = np.array(cc), np.array(bc)
    max_sim, free, per_cat, out, overflow = np.zeros(m), np.ones(m, bool), {}, [], []
    while len(out) < n and free.any():
        val = lam * rel - (1.0 - lam) * max_sim
        val[~free] = -np.inf
        j = int(np.argmax(val))
        free[j] = False
        c = int(cc[j])
        if cap is not None and cats[j] and per_cat.get(c, 0) >= cap:
            overflow.append(j)
            continue
        per_cat[c] = per_cat.get(c, 0) + 1
        out.append(j)
        np.maximum(max_sim, 0.7 * (cc == c) + 0.3 * (bc == bc[j]), out=max_sim)
    return out + overflow[:n - len(out)]


def test_diversify_matches_the_plain_mmr_loop_on_random_lists():
    rng = np.random.default_rng(5)
    for trial in range(300):
        m = int(rng.integers(1, 40))
        items = {f"i{k}": Item(item_id=f"i{k}", title="t", category=[f"c{rng.integers(0, 4)}"] if rng.random() > 0.1 else [],
                               brand=f"b{rng.integers(0, 3)}" if rng.random() > 0.2 else "") for k in range(m)}
        ids = list(items) + (["unknown"] if trial % 7 == 0 else [])
        rel = np.round(rng.random(len(ids)), 1)  # rounded: ties are common, tie-breaking must match too
        n, lam = int(rng.integers(1, 12)), float(rng.choice([0.0, 0.3, 0.8, 1.0]))
        cap = [None, 1, 2, 4][trial % 4]
        assert diversify(ids, rel, items, n, lam, cap) == _diversify_reference(ids, rel, items, n, lam, cap)


def test_diversify_with_the_catalog_codes_matches_reading_the_items():
    from shopsense.rank.rules import SimilarityCodes

    rng = np.random.default_rng(11)
    items = {f"i{k}": Item(item_id=f"i{k}", title="t", category=[f"c{rng.integers(0, 5)}"] if rng.random() > 0.15 else [],
                           brand=f"b{rng.integers(0, 4)}" if rng.random() > 0.2 else "") for k in range(80)}
    codes = SimilarityCodes(items)
    for trial in range(200):
        ids = [f"i{k}" for k in rng.choice(80, int(rng.integers(1, 60)), replace=False)] + (["gone"] if trial % 5 == 0 else [])
        rel = np.round(rng.random(len(ids)), 1)
        n, lam, cap = int(rng.integers(1, 15)), float(rng.choice([0.0, 0.5, 0.8, 1.0])), [None, 1, 3][trial % 3]
        assert diversify(ids, rel, items, n, lam, cap, codes) == diversify(ids, rel, items, n, lam, cap)
    rel = np.array([np.nan, 0.5, 0.9])  # NaN relevance comes last, whatever lambda
    for lam in (0.0, 0.5, 1.0):
        assert diversify(["i0", "i1", "i2"], rel, items, 3, lam, None, codes)[-1] == 0
