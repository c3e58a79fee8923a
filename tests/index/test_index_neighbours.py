"""NeighbourIndex: each row's nearest other rows, against brute force, through updates and the saved folder."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.errors import DataError
from shopsense.index.config import IndexConfig
from shopsense.index.neighbours import NeighbourIndex
from shopsense.index.topk import tie_keys
from shopsense.index.vector import VectorIndex


def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _brute(vec: VectorIndex, tie: np.ndarray, k: int) -> dict[int, list[int]]:
    """Every alive row's k nearest alive other rows by cosine, equal cosines to the lower tie key."""
    live = np.flatnonzero(vec.alive)
    out = {}
    for r in live.tolist():
        c = live[live != r]
        s = np.round(vec.vectors[c] @ vec.vectors[r], 6)
        out[r] = c[np.lexsort((tie[c], -s))][:k].tolist()
    return out


def _lists(nb: NeighbourIndex, rows) -> dict[int, list[int]]:
    return {r: [x for x in nb.rows[r].tolist() if x >= 0] for r in rows}


@pytest.fixture
def data():
    v = _unit(np.random.default_rng(0).normal(size=(120, 16)))
    v[7] = v[3]  # two items with the same text: equal cosines, ordered by the tie key
    v[50] = v[3]
    return v, tie_keys([f"item{i}" for i in range(len(v))])


@pytest.mark.parametrize("ann", ["usearch", "exact"])
def test_lists_match_brute_force_with_ties_by_key(data, ann):
    v, tie = data
    vec = VectorIndex(16, IndexConfig(ann=ann))
    vec.upsert(np.arange(len(v)), v)
    nb = NeighbourIndex(5)
    nb.update(vec, np.arange(len(v)), tie)
    want = _brute(vec, tie, 5)
    got = _lists(nb, want)
    assert sum(got[r] == want[r] for r in want) >= (len(want) - 2 if ann == "usearch" else len(want))
    assert got[3][:2] == sorted([7, 50], key=lambda r: int(tie[r]))  # its twins first, by tie key
    np.testing.assert_allclose(nb.sims[3, :2], 1.0, atol=1e-5)
    assert all(r not in got[r] for r in got)


def test_updates_follow_changes_and_removals(data):
    v, tie = data
    vec = VectorIndex(16, IndexConfig(ann="exact"))
    vec.upsert(np.arange(100), v[:100])
    nb = NeighbourIndex(4)
    nb.update(vec, np.arange(100), tie)
    # a new item that copies row 10, a changed item that now copies row 20, two removals
    vec.upsert(np.array([100, 11]), np.stack([v[10], v[20]]))
    nb.update(vec, np.array([100, 11]), tie)
    vec.remove(np.array([5, 6]))
    nb.remove(vec, np.array([5, 6]), tie)
    want = _brute(vec, tie, 4)
    got = _lists(nb, want)
    assert got[100][0] == 10 and got[11][0] == 20  # the changed rows' own lists are new
    assert 100 in got[10] and 11 in got[20]  # and they entered their twins' lists
    assert all(5 not in g and 6 not in g for g in got.values()) and (nb.rows[[5, 6]] == -1).all()
    assert 11 in got[90] and 90 not in got[11]  # a list it belongs in though 90 is not among its own nearest
    assert got == want  # an updated table equals a rebuilt one


def test_a_catalog_of_one_item_has_no_neighbours():
    vec = VectorIndex(4, IndexConfig(ann="exact"))
    vec.upsert(np.array([0]), _unit(np.ones((1, 4))))
    nb = NeighbourIndex(3)
    nb.update(vec, np.array([0]), tie_keys(["a"]))
    assert (nb.rows == -1).all()


def test_saved_folder_reloads_and_bad_settings_are_clear_errors(data, tmp_path):
    v, tie = data
    vec = VectorIndex(16, IndexConfig(ann="exact"))
    vec.upsert(np.arange(30), v[:30])
    nb = NeighbourIndex(3)
    nb.update(vec, np.arange(30), tie)
    nb.save(tmp_path / "nb")
    back = NeighbourIndex.load(tmp_path / "nb")
    assert back.k == 3 and (back.rows == nb.rows).all() and (back.sims == nb.sims).all()
    np.save(tmp_path / "nb" / "sims.npy", nb.sims[:, :2])
    with pytest.raises(DataError, match="inconsistent"):
        NeighbourIndex.load(tmp_path / "nb")
    with pytest.raises(DataError, match="k >= 1"):
        NeighbourIndex(0)
