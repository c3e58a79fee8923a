"""Contract tests every recommender must pass, shipped as a mixin so plug-ins can reuse them.

    from shopsense.testing.recommend_contract import RecommenderContract

    class TestMyRecommender(RecommenderContract):
        def make(self):
            return MyRecommender(...)

Data: the `checkerboard` synthetic set (users/items in groups, one item per user withheld).
Checks: the withheld item is found (personalised models), batch == single, unknown users / items
never raise, excluded and already-seen items never come back, filters hold, reasons are attached,
save -> load gives the same answers, using an unfitted model raises NotFittedError.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pytest

from shopsense.errors import DataError, NotFittedError
from shopsense.testing.synthetic import checkerboard


class RecommenderContract:
    #: does this model personalise (so it must find each user's withheld item)?
    finds_withheld: ClassVar[bool] = True
    #: the withheld item must be within the top `withheld_k` (already-seen items are excluded)
    withheld_k: ClassVar[int] = 2
    #: share of users whose withheld item must be found
    min_hit_rate: ClassVar[float] = 1.0

    def make(self):  # pragma: no cover - supplied by the concrete test class
        raise NotImplementedError

    @pytest.fixture(scope="class")
    def fitted(self):
        ds, withheld = checkerboard()
        return self.make().fit(ds), ds, withheld

    def test_withheld_item_found(self, fitted):
        rec, ds, withheld = fitted
        if not self.finds_withheld:
            pytest.skip("not a personalised model")
        users = list(withheld)
        lists = rec.recommend_batch(users, n=self.withheld_k)
        hits = [withheld[u] in lst.ids for u, lst in zip(users, lists)]
        assert np.mean(hits) >= self.min_hit_rate, f"found {sum(hits)}/{len(hits)} withheld items"

    def test_batch_equals_single(self, fitted):
        rec, ds, withheld = fitted
        users = list(withheld)
        queries = [users[0], users[9], "no-such-user", [ds.item_vocab.ids[0], ds.item_vocab.ids[1]],
                   None, [ds.item_vocab.ids[7]], users[-1]]
        batch = rec.recommend_batch(queries, n=5)
        for q, b in zip(queries, batch):
            s = rec.recommend(q, n=5)
            assert s.ids == b.ids, q
            np.testing.assert_allclose(s.scores, b.scores, rtol=1e-5, atol=1e-6)

    def test_unknown_user_and_items_never_raise(self, fitted):
        rec, ds, _ = fitted
        out = rec.recommend("no-such-user", n=5)
        assert len(out) == 5
        assert any("unknown user" in str(r) for r in out.reasons[0])
        assert len(rec.recommend(["no-such-item"], n=3)) == 3
        assert len(rec.recommend(["no-such-item", ds.item_vocab.ids[0]], n=3)) == 3
        assert len(rec.recommend(None, n=3)) == 3
        assert len(rec.recommend([], n=3)) == 3

    def test_excluded_and_seen_items_never_returned(self, fitted):
        rec, ds, withheld = fitted
        user = next(iter(withheld))
        first = rec.recommend(user, n=6)
        excluded = first.ids[:3]
        again = rec.recommend(user, n=ds.n_items, exclude=excluded)
        assert not set(excluded) & set(again.ids)
        seen = {ds.item_vocab.ids[i] for i in ds.user_sequences()[ds.user_vocab[user]]}
        assert not seen & set(again.ids)
        assert len(again.ids) == len(set(again.ids))

    def test_filters(self, fitted):
        rec, ds, withheld = fitted
        out = rec.recommend(next(iter(withheld)), n=10, filters={"category": "cat2"})
        assert out.ids and all(ds.item(i).category == ["cat2"] for i in out.ids)
        with pytest.raises(DataError):
            rec.recommend(None, n=3, filters={"colour": "red"})

    def test_reasons_and_order(self, fitted):
        rec, _, withheld = fitted
        out = rec.recommend(next(iter(withheld)), n=5)
        assert all(r and "source" in r[0] and r[0]["rank"] == k + 1 for k, r in enumerate(out.reasons))
        assert np.all(np.diff(out.scores) <= 0)

    def test_bad_query_is_a_typed_error(self, fitted):
        rec = fitted[0]
        with pytest.raises(DataError):
            rec.recommend(42, n=3)  # type: ignore[arg-type]

    def test_save_load_roundtrip(self, fitted, tmp_path):
        from shopsense.recommend.persist import load_recommender

        rec, _, withheld = fitted
        rec.save(tmp_path / "m")
        assert not list((tmp_path / "m").rglob("*.pkl"))
        loaded = load_recommender(tmp_path / "m")
        assert loaded.fingerprint == rec.fingerprint and loaded.fingerprint
        for q in [next(iter(withheld)), None, "no-such-user"]:
            a, b = rec.recommend(q, n=5), loaded.recommend(q, n=5)
            assert a.ids == b.ids
            np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6)

    def test_unfitted_raises(self):
        with pytest.raises(NotFittedError):
            self.make().recommend("u", n=3)
