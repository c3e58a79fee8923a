"""The ranker is trained from logged events with a per-user hold-out and measured against the rules."""

from __future__ import annotations

import numpy as np

from shopsense.types import Dataset, Event, Item


def _dataset(n_users: int = 240, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    cats = ["Tools", "Lab", "Tape", "Paint"]
    items = [Item(item_id=f"p{k}", title=f"{cats[k % 4]} product {k}", category=[cats[k % 4]], brand=f"b{k % 7}")
             for k in range(80)]
    events = []
    for u in range(n_users):
        fav = u % 4
        pool = [k for k in range(80) if k % 4 == fav]
        for j, k in enumerate(rng.choice(pool, size=6, replace=False)):
            events.append(Event(user_id=f"u{u}", item_id=f"p{k}", type="purchase", timestamp=1.6e9 + u * 100 + j))
    return Dataset.from_records(items, events)


def test_holdout_last_keeps_one_per_user():
    from shopsense.rank.train import holdout_last

    ds = _dataset(20)
    fit, held = holdout_last(ds)
    assert len(held) == 20 and len(fit.events) == len(ds.events) - 20
    seqs = ds.user_sequences()
    assert all(held[u] == seqs[u][-1] for u in held)


def test_train_ranker_reports_on_vs_off(tmp_path):
    from shopsense.rank.train import train_ranker
    from shopsense.settings import load_settings

    s = load_settings(data_dir=str(tmp_path), text={"encoder": "hashing"},
                      rank={"lgbm": {"min_queries": 10, "n_estimators": 20, "min_child_samples": 5}},
                      recommend={"cf": {"iterations": 5, "factors": 8}})
    ranker, rep = train_ranker(s, _dataset())
    assert ranker is not None, rep
    assert rep["train_queries"] >= 10 and rep["eval_queries"] > 0
    assert 0.0 <= rep["ndcg10_rules"] <= 1.0 and 0.0 <= rep["ndcg10_lgbm"] <= 1.0
    assert rep["eval_recall"] > 0.5  # the held-out item is usually among the candidates
