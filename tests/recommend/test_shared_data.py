"""Checks on the real shared datasets (skipped when ../shared/data is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.evaluate.seq_eval import cold_item_split, evaluate_full_ranking, loo_split
from shopsense.ingest.adapters import shared_data_dir

pytestmark = pytest.mark.skipif(shared_data_dir() is None or not (shared_data_dir() / "amazon-seq").exists(),
                                reason="shared amazon-seq data not available")


@pytest.fixture(scope="module")
def beauty():
    from shopsense.ingest.adapters import load_amazon_seq

    return load_amazon_seq("Beauty")


def test_popularity_baseline_matches_the_published_order_of_magnitude(beauty):
    train, valid, test, _ = loo_split(beauty.sequences)
    hist = [np.concatenate([t, [v]]) for t, v in zip(train, valid)]
    counts = np.bincount(np.concatenate(hist), minlength=beauty.dataset.n_items).astype(float)
    res = evaluate_full_ranking(lambda h: np.tile(counts, (len(h), 1)), hist, test)
    assert 0.010 < res["HR@10"] < 0.020  # published PopRec HR@10 on these files: 0.0152
    assert res["n_users"] == 22363


def test_cold_split_on_real_data_keeps_cold_items_out_of_training(beauty):
    cold, seqs = cold_item_split(beauty.sequences, beauty.dataset.n_items, 0.1, seed=0)
    train, valid, test, _ = loo_split(seqs)
    assert not cold[np.concatenate(train)].any() and not cold[valid].any()
    assert 0.05 < cold[test].mean() < 0.15  # roughly 10% of test targets are cold


@pytest.mark.slow
def test_fused_sequential_recommender_trains_on_real_data(beauty):
    import torch

    from shopsense.recommend.config import SequentialConfig
    from shopsense.recommend.personal import SequentialRecommender

    torch.set_num_threads(1)
    # text_loss off keeps this CI run short (it doubles the output-layer cost); the rest are the defaults
    rec = SequentialRecommender(SequentialConfig(epochs=1, time_budget_minutes=5, text_loss=0.0),
                                progress=False).fit(beauty.dataset)
    assert rec.feature_kind == "attributes"
    assert rec.train_result.best_valid_ndcg10 > 0.01
    user = beauty.dataset.user_vocab.ids[0]
    assert len(rec.recommend(user, n=10)) == 10
