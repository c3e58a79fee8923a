from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from shopsense.index.topk import top_k


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
