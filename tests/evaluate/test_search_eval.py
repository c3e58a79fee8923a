from __future__ import annotations

import math

import pytest

from shopsense.errors import DataError
from shopsense.evaluate.search_eval import evaluate_rankings, evaluate_retrievers, markdown_table


def test_hand_computed_example():
    qrels = {"q1": {"a": 3.0, "b": 2.0, "c": 1.0}, "q2": {"x": 1.0}, "q3": {"m": 2.67}}
    runs = {"q1": ["c", "b", "z", "a"], "q2": ["x"], "q3": []}
    r = evaluate_rankings(runs, qrels, k_recall=3)
    # q1 gains: a=2, b=1, c=0. DCG = 0/log2(2) + 1/log2(3) + 0 + 2/log2(5); IDCG = 2 + 1/log2(3)
    nd1 = (1 / math.log2(3) + 2 / math.log2(5)) / (2 + 1 / math.log2(3))
    assert r.n_ndcg == 2 and r.ndcg == pytest.approx((nd1 + 0.0) / 2)  # q2 has no positive gain: not averaged
    # relevant (>= 2.5): q1 {a} at rank 4 -> MRR 1/4, recall@3 0; q3 {m} not retrieved
    assert r.n_relevant == 2 and r.mrr == pytest.approx(0.125) and r.recall == 0.0
    assert r.per_query["q1"]["mrr"] == 0.25


def test_evaluate_retrievers_counts_failures_as_empty():
    qrels = {"q1": {"a": 3.0}, "q2": {"b": 3.0}}
    queries = {"q1": "drill", "q2": "boom"}

    def good(q):
        return ["a", "b"]

    def flaky(q):
        if q == "boom":
            raise RuntimeError("x")
        return ["a"]

    res = evaluate_retrievers({"good": good, "flaky": flaky}, queries, qrels)
    assert [r.name for r in res] == ["good", "flaky"]
    assert res[0].mrr == pytest.approx(0.75) and res[1].mrr == pytest.approx(0.5)
    assert "| good |" in markdown_table(res)
    with pytest.raises(DataError):
        evaluate_rankings({}, {})
