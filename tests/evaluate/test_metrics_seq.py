"""Full-ranking leave-one-out metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np

from shopsense.evaluate.metrics import hit_rate_at_k, ndcg_single_target_at_k, target_ranks
from shopsense.evaluate.seq_eval import evaluate_full_ranking, rank_targets


def test_target_ranks_hand_computed():
    scores = np.array([[0.1, 0.9, 0.5, 0.3],    # target 2 -> one item above: rank 1
                       [0.7, 0.2, 0.2, 0.1],    # target 0 -> best: rank 0
                       [0.4, 0.4, 0.4, 0.4]])   # ties count against the target: rank 3
    assert target_ranks(scores, np.array([2, 0, 1])).tolist() == [1, 0, 3]


def test_hr_and_ndcg_hand_computed():
    ranks = np.array([0, 1, 9, 10, 25])
    assert hit_rate_at_k(ranks, 10) == 3 / 5
    assert hit_rate_at_k(ranks, 1) == 1 / 5
    expected = (1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(11)) / 5
    assert math.isclose(ndcg_single_target_at_k(ranks, 10), expected)
    # rank 10 (11th place) enters at k=20, rank 25 at k=30
    assert math.isclose(ndcg_single_target_at_k(ranks, 20), expected + 1 / math.log2(12) / 5)
    assert math.isclose(ndcg_single_target_at_k(ranks, 30), expected + 1 / math.log2(12) / 5 + 1 / math.log2(27) / 5)


def test_history_items_are_removed_from_the_ranking():
    scores = np.array([[5.0, 4.0, 3.0, 2.0, 1.0]])
    fn = lambda h: np.repeat(scores, len(h), axis=0)  # noqa: E731
    # history {0, 1} is masked, so target 3 moves from rank 3 to rank 1
    assert rank_targets(fn, [np.array([0, 1])], np.array([3])).tolist() == [1]
    assert rank_targets(fn, [np.array([0, 1])], np.array([3]), mask_history=False).tolist() == [3]
    res = evaluate_full_ranking(fn, [np.array([0, 1]), np.array([4])], np.array([3, 0]), ks=(1, 2))
    assert res["HR@1"] == 0.5 and res["HR@2"] == 1.0
    assert math.isclose(res["NDCG@2"], (1 / math.log2(3) + 1.0) / 2)
