from __future__ import annotations

import numpy as np
import pytest

from shopsense.errors import DataError
from shopsense.index.config import IndexConfig
from shopsense.index.vector import VectorIndex


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3000, 48)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def exact(x, q, k, mask=None):
    s = x @ q
    if mask is not None:
        s = np.where(mask, s, -np.inf)
    return set(np.argsort(-s)[:k].tolist())


def test_ann_recall_against_exact(data):
    v = VectorIndex(48)
    v.upsert(np.arange(len(data)), data)
    rec = [len(set(v.search(data[i] + 0.01, 10)[0].tolist()) & exact(data, data[i] + 0.01, 10)) / 10
           for i in range(0, 3000, 100)]
    assert np.mean(rec) >= 0.95


@pytest.mark.parametrize("share", [0.5, 0.01])
def test_filtered_search_respects_mask(data, share):
    v = VectorIndex(48, IndexConfig(exact_below=0.05))
    v.upsert(np.arange(len(data)), data)
    mask = np.random.default_rng(1).random(len(data)) < share
    rows, _ = v.search(data[0], 10, mask)
    assert len(rows) == 10 and mask[rows].all()
    assert len(set(rows.tolist()) & exact(data, data[0], 10, mask)) >= 9


def test_update_remove_and_round_trip(data, tmp_path):
    v = VectorIndex(48)
    v.upsert(np.arange(100), data[:100])
    v.remove(np.array([5]))
    assert 5 not in v.search(data[5], 5)[0]
    v.upsert(np.array([7]), data[200:201])  # changed item
    assert v.search(data[200], 1)[0][0] == 7
    v.upsert(np.array([150]), data[300:301])  # new row beyond the end
    assert len(v) == 100 and v.search(data[300], 1)[0][0] == 150
    v.save(tmp_path / "vec")
    assert {p.suffix for p in (tmp_path / "vec").iterdir()} <= {".npy", ".json"}
    w = VectorIndex.load(tmp_path / "vec")
    for q in (data[200], data[300], data[42]):
        assert w.search(q, 3)[0].tolist() == v.search(q, 3)[0].tolist()
    with pytest.raises(DataError):
        v.upsert(np.array([1]), np.zeros((1, 3), np.float32))


def test_exact_backend_and_empty(data):
    v = VectorIndex(48, IndexConfig(ann="exact"))
    assert len(v.search(data[0], 5)[0]) == 0
    v.upsert(np.arange(50), data[:50])
    assert set(v.search(data[3], 5)[0].tolist()) == exact(data[:50], data[3], 5)


@pytest.mark.parametrize("dtype", ["i8", "f16", "f32"])
def test_graph_storage_types_keep_recall_and_give_exact_scores(data, dtype):
    """Whatever the graph stores, hits are scored (and ordered) by the exact float inner product."""
    v = VectorIndex(48, IndexConfig(ann_dtype=dtype))
    v.upsert(np.arange(len(data)), data)
    rec = []
    for i in range(0, 3000, 100):
        q = data[i] + 0.01
        rows, sims = v.search(q, 10)
        np.testing.assert_allclose(sims, data[rows] @ q, rtol=1e-6)
        assert (np.diff(sims) <= 0).all()
        rec.append(len(set(rows.tolist()) & exact(data, q, 10)) / 10)
    assert np.mean(rec) >= 0.95


def test_folders_saved_before_the_dtype_setting_load_as_f32(data, tmp_path):
    import json

    v = VectorIndex(48, IndexConfig(ann_dtype="f32"))
    v.upsert(np.arange(200), data[:200])
    v.save(tmp_path / "old")
    meta = json.loads((tmp_path / "old" / "meta.json").read_text())
    del meta["config"]["ann_dtype"]  # what an older version wrote
    (tmp_path / "old" / "meta.json").write_text(json.dumps(meta))
    w = VectorIndex.load(tmp_path / "old")
    assert w.config.ann_dtype == "f32"
    # HNSW is approximate and usearch builds its graph on several threads: one point can (rarely, seen once in
    # ~10 runs) miss itself, so the loaded index must find most points rather than one chosen point
    assert np.mean([w.search(data[i], 1)[0][0] == i for i in range(50)]) >= 0.9
    assert IndexConfig().ann_dtype == "i8"  # new indexes


def test_the_same_catalog_builds_the_same_graph(data, tmp_path):
    """With the default one build thread, two builds of the same vectors (added in the same batches) give
    byte-identical saved graphs and the same hits, so rebuilds and benchmark runs are reproducible.
    (With several threads, usearch inserts in whatever order the threads reach, and graphs differ.)"""
    hits = []
    for name in ("a", "b"):
        v = VectorIndex(48)
        v.upsert(np.arange(2000), data[:2000])
        v.upsert(np.arange(2000, 3000), data[2000:])
        v.save(tmp_path / name)
        hits.append([v.search(data[i] + 0.05, 20)[0].tolist() for i in range(0, 3000, 15)])
    assert (tmp_path / "a" / "hnsw.npy").read_bytes() == (tmp_path / "b" / "hnsw.npy").read_bytes()
    assert hits[0] == hits[1]
    fast = VectorIndex(48, IndexConfig(ann_build_threads=0))  # every core: still a correct index
    fast.upsert(np.arange(len(data)), data)
    assert len(set(fast.search(data[7], 10)[0].tolist()) & exact(data, data[7], 10)) >= 9
