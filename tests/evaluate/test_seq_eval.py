"""Leave-one-out and cold-item splits leak nothing (property tests)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopsense.evaluate.seq_eval import cold_item_split, loo_split

seqs_strategy = st.lists(st.lists(st.integers(0, 29), min_size=0, max_size=12), min_size=1, max_size=25)


@settings(max_examples=60, deadline=None)
@given(seqs_strategy)
def test_loo_split_is_a_partition_in_time_order(raw):
    seqs = [np.array(s, np.int64) for s in raw]
    train, valid, test, users = loo_split(seqs)
    assert len(train) == len(valid) == len(test) == len(users)
    for t, v, x, u in zip(train, valid, test, users):
        full = seqs[u]
        assert len(full) >= 3
        # training is a strict prefix: nothing from the last two positions leaks into it
        assert np.array_equal(np.concatenate([t, [v, x]]), full)
        assert len(t) == len(full) - 2
    assert set(users.tolist()) == {u for u, s in enumerate(seqs) if len(s) >= 3}


@settings(max_examples=60, deadline=None)
@given(seqs_strategy, st.integers(0, 1000))
def test_cold_items_never_reach_training_or_validation(raw, seed):
    seqs = [np.array(s, np.int64) for s in raw]
    cold, kept = cold_item_split(seqs, 30, frac=0.2, seed=seed)
    assert cold.sum() == 6
    train, valid, test, users = loo_split(kept)
    for t in train:
        assert not cold[t].any()
    assert not cold[valid].any() if len(valid) else True
    for s, k in zip(seqs, kept):
        if len(s):
            assert k[-1] == s[-1]  # the test position is untouched


def test_bad_arguments():
    with pytest.raises(ValueError):
        loo_split([np.arange(5)], min_len=2)
    with pytest.raises(ValueError):
        cold_item_split([np.arange(5)], 5, frac=1.5)


@settings(max_examples=60, deadline=None)
@given(seqs_strategy, st.integers(0, 1000))
def test_cold_items_may_be_validation_targets_with_keep_last_2_but_never_train(raw, seed):
    seqs = [np.array(s, np.int64) for s in raw]
    cold, kept = cold_item_split(seqs, 30, frac=0.2, seed=seed, keep_last=2)
    train, valid, test, users = loo_split(kept)
    for t in train:
        assert not cold[t].any()
    for s, k in zip(seqs, kept):
        assert np.array_equal(k[-2:], s[-2:])  # validation and test positions untouched
        assert np.array_equal(k[:-2], s[:-2][~cold[s[:-2]]]) if len(s) > 2 else True
    with pytest.raises(ValueError):
        cold_item_split(seqs, 30, keep_last=3)
