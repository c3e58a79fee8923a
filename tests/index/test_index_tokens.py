"""TokenIndex: the soft term match on known vectors, updates, compaction and the saved folder."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.errors import DataError
from shopsense.index.tokens import TokenIndex


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture
def vocab():
    return _unit(np.random.default_rng(0).normal(size=(40, 24)).astype(np.float32))  # 40 "words"


def _title(vocab, ids):
    return vocab[ids]


def test_match_scores_the_title_holding_the_query_words_first(vocab):
    titles = [[1, 2, 3], [1, 9, 10], [20, 21, 22, 23], [2, 1, 3, 4, 5, 6, 7]]
    ti = TokenIndex.fit([_title(vocab, t) for t in titles], dims=24)
    ti.set_rows(range(len(titles)), [_title(vocab, t) for t in titles])
    m = ti.match(_title(vocab, [1, 2, 3]), np.arange(4))
    rec, worst, prec, f = m.T
    np.testing.assert_allclose(rec[[0, 3]], 1.0, atol=0.02)  # every query word is in titles 0 and 3
    assert rec[0] > rec[1] > rec[2] and worst[0] > worst[1]
    assert prec[0] > prec[3]  # title 3 also has four words the query lacks
    assert f[0] == pytest.approx(2 * rec[0] * prec[0] / (rec[0] + prec[0]), abs=1e-5)
    assert np.all(ti.match(np.zeros((0, 24), np.float32), np.arange(4)) == 0)


def test_projection_keeps_the_ranking_and_stores_int8(vocab):
    titles = [list(range(i, i + 6)) for i in range(0, 34, 2)]
    full = TokenIndex.fit([_title(vocab, t) for t in titles], dims=24)
    small = TokenIndex.fit([_title(vocab, t) for t in titles], dims=12)
    for ti in (full, small):
        ti.set_rows(range(len(titles)), [_title(vocab, t) for t in titles])
    assert small.data.dtype == np.int8 and small.data.shape == (6 * len(titles), 12)
    q = _title(vocab, [4, 5, 6])
    assert np.argmax(full.match(q, np.arange(len(titles)))[:, 0]) in (1, 2)  # titles 2..7 and 4..9
    assert np.argmax(small.match(q, np.arange(len(titles)))[:, 0]) in (1, 2)


def test_replace_remove_compact_and_reload(vocab, tmp_path):
    titles = [[1, 2], [3, 4, 5], [6]]
    ti = TokenIndex.fit([_title(vocab, t) for t in titles], dims=16)
    ti.set_rows([0, 1, 2], [_title(vocab, t) for t in titles])
    ti.set_rows([1], [_title(vocab, [1, 2, 7])])  # item 1 changed
    ti.set_rows([5], [_title(vocab, [8, 9])])  # a new row past the end
    ti.remove([2])
    q = _title(vocab, [1, 2])
    before = ti.match(q, np.arange(6))
    assert np.all(before[[2, 3, 4]] == 0) and before[1, 0] > 0.9 and before[5, 0] < before[1, 0]
    ti.save(tmp_path / "tok")
    assert len(ti.data) == 2 + 3 + 2  # the replaced and removed rows' vectors were dropped
    np.testing.assert_allclose(ti.match(q, np.arange(6)), before, atol=1e-6)
    back = TokenIndex.load(tmp_path / "tok")
    np.testing.assert_allclose(back.match(q, np.arange(6)), before, atol=1e-6)
    assert back.match(q, np.array([99]))[0].tolist() == [0, 0, 0, 0]  # a row it never saw


def test_errors(tmp_path, vocab):
    with pytest.raises(DataError, match="no token vectors"):
        TokenIndex.fit([np.zeros((0, 8), np.float32)], dims=4)
    ti = TokenIndex.fit([_title(vocab, [1, 2, 3])], dims=3)
    ti.set_rows([0], [_title(vocab, [1, 2, 3])])
    ti.save(tmp_path / "t")
    np.save(tmp_path / "t" / "spans.npy", np.array([[0, 50]]))
    with pytest.raises(DataError, match="inconsistent"):
        TokenIndex.load(tmp_path / "t")
