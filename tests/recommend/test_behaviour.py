"""Behaviour beyond the contract: incremental trending, event weights, cold start, typed errors."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.errors import ConfigError, DataError
from shopsense.recommend.coldstart import HybridRecommender
from shopsense.recommend.config import CFConfig, RecommendConfig, SequentialConfig, TrendingConfig
from shopsense.recommend.personal import CFRecommender, SequentialRecommender
from shopsense.recommend.similar import SimilarItemsRecommender
from shopsense.recommend.trending import TrendingRecommender
from shopsense.testing.synthetic import checkerboard
from shopsense.text.encoder import HashingEncoder
from shopsense.types import EVENT_CODES, Dataset, Event, Item


def _ds(events, n_items=4):
    items = [Item(item_id=f"i{k}", title=f"item {k}", category=["a" if k % 2 else "b"]) for k in range(n_items)]
    return Dataset.from_records(items, events)


def test_trending_decays_and_updates_incrementally():
    day = 86_400.0
    evs = [Event(user_id="u", item_id="i0", type="view", timestamp=0.0) for _ in range(4)]
    evs += [Event(user_id="v", item_id="i1", type="view", timestamp=10 * day)]
    full = TrendingRecommender(TrendingConfig(half_life_days=2.0)).fit(_ds(evs))
    # four views ten days (five half-lives) ago weigh 4/32 < one view today
    assert full.recommend(None, n=2).ids == ["i1", "i0"]
    np.testing.assert_allclose(full.scores[:2], [4 * 2 ** -5, 1.0])
    part = TrendingRecommender(TrendingConfig(half_life_days=2.0)).fit(_ds(evs[:4]))
    later = _ds(evs)  # same vocabularies; feed only the new event
    part.update(later.events.subset(np.array([4])))
    np.testing.assert_allclose(part.scores, full.scores)


def test_trending_per_category_and_event_weights():
    evs = [Event(user_id="u", item_id="i0", type="view", timestamp=1.0),
           Event(user_id="u", item_id="i0", type="view", timestamp=1.0),
           Event(user_id="u", item_id="i2", type="purchase", timestamp=1.0),
           Event(user_id="u", item_id="i1", type="view", timestamp=1.0)]
    rec = TrendingRecommender().fit(_ds(evs))
    assert rec.recommend(None, n=1).ids == ["i2"]  # one purchase (4) > two views (2)
    top = rec.top_by_category(n=2)
    assert top["a"].ids[0] == "i1" and top["b"].ids[0] == "i2"
    with pytest.raises(DataError):
        TrendingRecommender(TrendingConfig(event_weights={"like": 1.0})).fit(_ds(evs))
    with pytest.raises(ConfigError):
        CFRecommender(CFConfig(event_weights={"like": 1.0})).fit(_ds(evs))


def test_fit_rejects_bad_input():
    with pytest.raises(DataError):
        TrendingRecommender().fit([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(DataError):
        SequentialRecommender(SequentialConfig(text_features="none")).fit(
            _ds([Event(user_id="u", item_id="i0", type="view", timestamp=1.0)]))


def test_new_items_get_neighbours_through_text():
    ds, _ = checkerboard(cold_items_per_group=1)
    rec = SimilarItemsRecommender(encoder=HashingEncoder()).fit(ds)
    out = rec.similar("g1new0", n=5)  # no events at all
    assert out.ids and all(i.startswith("g1") for i in out.ids[:3])
    session = rec.recommend(["g2i0", "g2i1"], n=6)
    assert "g2new0" in session.ids


def test_fused_sequential_ranks_never_seen_items_by_text_but_id_only_cannot(own_cold_item_wins):
    ds, withheld = checkerboard(n_groups=4, users_per_group=10, cold_items_per_group=1)
    base = dict(dim=16, max_len=10, n_layers=1, dropout=0.1, epochs=80, batch_size=16, lr=1e-2, holdout_last=False)
    fused = SequentialRecommender(SequentialConfig(text_features="attributes", id_dropout=0.3, **base),
                                  progress=False).fit(ds)
    id_only = SequentialRecommender(SequentialConfig(text_features="none", id_dropout=0.0, **base),
                                    progress=False).fit(ds)
    cold = [f"g{g}new0" for g in range(4)]  # items with no events at all
    assert own_cold_item_wins(fused, ds, withheld, cold) >= 0.9
    assert own_cold_item_wins(id_only, ds, withheld, cold) == 0.0  # all never-seen items look the same without text


def test_hybrid_routes_and_explains():
    ds, withheld = checkerboard(cold_items_per_group=1)
    cfg = RecommendConfig(personal="cf", cf=CFConfig(factors=8, iterations=10))
    rec = HybridRecommender(cfg, encoder=HashingEncoder(), progress=False).fit(ds)
    user = next(iter(withheld))
    assert rec.recommend(user, n=3).reasons[0][0]["route"] == "personal"
    sess = rec.recommend(["g3i0"], n=3)
    assert sess.reasons[0][0]["route"] == "similar" and sess.reasons[0][0]["because"] == "g3i0"
    new = rec.recommend("brand-new-user", n=3).reasons[0][0]
    assert new["route"] == "trending" and "unknown user" in new["notes"][0]
    assert rec.similar("g0new0", n=3).ids


def test_sampled_softmax_and_alignment_term_train():
    ds, withheld = checkerboard()
    cfg = SequentialConfig(text_features="attributes", loss="sampled", n_negatives=8, align_alpha=0.5, dim=16,
                           max_len=10, n_layers=1, dropout=0.1, epochs=40, batch_size=16, lr=1e-2, holdout_last=True,
                           patience=40)
    rec = SequentialRecommender(cfg, progress=False).fit(ds)
    res = rec.train_result
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    assert res.best_valid_ndcg10 > 0  # validation (last item of each history) drove the early stopping
    hits = [withheld[u] in rec.recommend(u, n=3).ids for u in withheld]
    assert np.mean(hits) >= 0.8
