from __future__ import annotations

import numpy as np
import pytest

from shopsense.errors import NotFittedError
from shopsense.search.engine import SearchEngine
from shopsense.search.rerank import FEATURES, Reranker, features, training_rows
from shopsense.text.encoder import HashingEncoder
from shopsense.types import Item

pytest.importorskip("lightgbm")

NOUNS = ["drill", "hammer", "hose", "bulb", "saw", "ladder", "paint", "brush", "glove", "rake"]
ADJ = ["red", "blue", "cordless", "steel", "garden", "led", "heavy", "small", "large", "outdoor"]


@pytest.fixture(scope="module")
def engine():
    rng = np.random.default_rng(0)
    items = [Item(item_id=f"p{i}", title=f"{ADJ[rng.integers(10)]} {NOUNS[rng.integers(10)]} "
                                        f"{ADJ[rng.integers(10)]} model {i}") for i in range(300)]
    return SearchEngine.build(items, encoder=HashingEncoder())


def synthetic_judgments(engine, n=60, seed=1):
    """Query 'adj noun': a product is relevant when its noun (2nd word) is the query noun, more so (3)
    when it also has the adjective; adjective-only matches are not relevant."""
    rng = np.random.default_rng(seed)
    queries, qrels = {}, {}
    for k in range(n):
        a, nn = ADJ[rng.integers(10)], NOUNS[rng.integers(10)]
        queries[f"q{k}"] = f"{a} {nn}"
        rel = {}
        for iid, t in zip(engine.ids.ids, engine.lex_texts):
            w = t.split()
            if w[1] == nn:
                rel[iid] = 3.0 if a in w else 2.0
        qrels[f"q{k}"] = rel
    return queries, qrels


def test_reranker_fits_saves_and_loads(engine, tmp_path):
    queries, qrels = synthetic_judgments(engine, n=30)
    X, y, g = training_rows(engine, queries, qrels, depth=30)
    assert X.shape[1] == len(FEATURES) and len(X) == sum(g) and y.max() > 0
    r = Reranker().fit(X, y, g, n_estimators=20)
    r.save(tmp_path / "rr")
    r2 = Reranker.load(tmp_path / "rr")
    np.testing.assert_allclose(r.predict(X[:20]), r2.predict(X[:20]))
    engine.reranker = r
    res = engine.search("steel hose", k=5)
    assert any(x["source"] == "reranker" for x in res.items.reasons[0])
    parsed = engine.parse("steel hose")
    cand = engine.candidates(parsed)
    assert features(engine, cand, np.arange(min(5, len(cand.rows)))).shape == (min(5, len(cand.rows)), len(FEATURES))
    engine.reranker = None


def test_unfitted_reranker_is_a_clear_error():
    with pytest.raises(NotFittedError):
        Reranker().predict(np.zeros((1, len(FEATURES))))
