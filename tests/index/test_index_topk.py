from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import pytest

from shopsense.index.topk import tie_keys, top_k


def test_ties_go_to_the_lower_position_at_the_cut_and_in_the_order():
    s = np.array([1.0, 3.0, 2.0, 3.0, 2.0, 2.0, 0.5])
    assert top_k(s, 4).tolist() == [1, 3, 2, 4]  # of the three 2.0s, the first two make the cut, in row order
    assert top_k(s, 2).tolist() == [1, 3]
    assert top_k(s, 10).tolist() == [1, 3, 2, 4, 5, 0, 6]
    assert top_k(s, 0).tolist() == [] and top_k(np.zeros(0), 3).tolist() == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=60), st.integers(1, 70))
def test_top_k_is_the_stable_full_sort_cut_at_k(values, k):
    """Many ties (small integer scores): the result is exactly a stable descending sort's first k, whatever
    numpy's partition algorithm does."""
    s = np.array(values, dtype=np.float32)
    assert top_k(s, k).tolist() == np.argsort(-s, kind="stable")[:k].tolist()


def test_a_large_array_of_few_values_is_cut_like_the_stable_sort():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 3, 5000).astype(np.float64)
    expected = np.argsort(-s, kind="stable")[:100]
    assert top_k(s, 100).tolist() == expected.tolist()


def test_tie_keys_order_ties_at_the_cut_and_in_the_order():
    s = np.array([2.0, 3.0, 2.0, 2.0, 1.0])
    tie = np.array([9, 5, 1, 4, 0], np.uint64)
    assert top_k(s, 3, tie).tolist() == [1, 2, 3]  # of the 2.0s the keys 1 and 4 make the cut, 9 does not
    assert top_k(s, 5, tie).tolist() == [1, 2, 3, 0, 4]
    with pytest.raises(ValueError, match="tie keys"):
        top_k(s, 2, tie[:3])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 6)), min_size=1, max_size=60), st.integers(1, 70))
def test_top_k_with_keys_is_the_full_sort_by_score_then_key(pairs, k):
    s = np.array([p[0] for p in pairs], dtype=np.float64)
    tie = np.array([p[1] for p in pairs], dtype=np.uint64)
    got = top_k(s, k, tie)
    want = np.lexsort((tie, -s))[:k]
    # positions with the same score and the same key may come in either order: compare (score, key) pairs
    assert [(s[i], tie[i]) for i in got] == [(s[i], tie[i]) for i in want]


def test_tie_keys_depend_on_the_id_alone():
    a = tie_keys(["p1", "p2", "p3"])
    assert a.dtype == np.uint64 and len(set(a.tolist())) == 3
    assert tie_keys(["p3", "p1"]).tolist() == [a[2], a[0]]  # not on position or on the other ids
