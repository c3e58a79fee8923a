from __future__ import annotations

import math

import numpy as np
import pytest

from shopsense.errors import DataError
from shopsense.index.config import IndexConfig
from shopsense.index.lexical import LexicalIndex

DOCS = ["cordless drill with battery", "drill bit set for metal drill", "claw hammer",
        "garden hose", "hammer drill heavy duty drill drill"]


def lucene_bm25(docs, query, k1=1.2, b=0.75):
    """Reference BM25, Lucene variant (no (k1+1) factor in the numerator, as Lucene >= 8 and bm25s
    'lucene'), computed by hand."""
    n = len(docs)
    avgdl = sum(len(d) for d in docs) / n
    out = []
    for d in docs:
        s = 0.0
        for t in set(query):
            df = sum(t in x for x in docs)
            if df == 0:
                continue
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            tf = d.count(t)
            s += idf * tf / (tf + k1 * (1 - b + b * len(d) / avgdl))
        out.append(s)
    return np.array(out)


@pytest.mark.parametrize("k1,b", [(1.2, 0.75), (0.9, 0.4)])
def test_bm25_matches_reference_formula(k1, b):
    ix = LexicalIndex(IndexConfig(bm25_k1=k1, bm25_b=b))
    ix.set_docs(range(len(DOCS)), DOCS)
    q = ix.tokenize("drill hammer")
    np.testing.assert_allclose(ix.scores(q), lucene_bm25(ix.docs, q, k1, b), rtol=1e-5)


def test_bm25_matches_bm25s_library_directly():
    import bm25s

    ix = LexicalIndex()
    ix.set_docs(range(len(DOCS)), DOCS)
    ref = bm25s.BM25(k1=ix.config.bm25_k1, b=ix.config.bm25_b, method="lucene")
    ref.index(ix.docs, show_progress=False)
    q = ix.tokenize("metal drill bits")
    np.testing.assert_allclose(ix.scores(q), ref.get_scores(q), rtol=1e-6)


def test_updates_and_round_trip(tmp_path):
    ix = LexicalIndex()
    ix.set_docs(range(3), DOCS[:3])
    assert ix.scores(ix.tokenize("hose")).max() == 0
    ix.set_docs([3], ["garden hose"])  # add
    ix.set_docs([2], ["rubber mallet"])  # change
    ix.remove([0])
    s = ix.scores(ix.tokenize("hose drill hammer mallet"))
    assert s[3] > 0 and s[2] > 0 and s[0] == 0
    assert ix.matched(1, ix.tokenize("drill bits")) == ["drill", "bit"]
    ix.save(tmp_path / "lex")
    assert not list((tmp_path / "lex").rglob("*.pkl"))
    np.testing.assert_allclose(LexicalIndex.load(tmp_path / "lex").scores(ix.tokenize("hose drill")),
                               ix.scores(ix.tokenize("hose drill")))


def test_unknown_terms_and_bad_input():
    ix = LexicalIndex()
    ix.set_docs([0], ["drill"])
    assert ix.scores(["zzz"]).tolist() == [0.0]
    assert ix.scores([]).tolist() == [0.0]
    with pytest.raises(DataError):
        ix.set_docs([0, 1], ["a"])
    with pytest.raises(DataError):
        LexicalIndex.load("/nonexistent/folder")


def test_idf_follows_updates():
    ix = LexicalIndex()
    ix.set_docs(range(5), DOCS)
    docs = [ix.tokenize(d) for d in DOCS]
    drill = ix.tokenize("drill")[0]
    df = sum(drill in d for d in docs)
    assert ix.idf(drill) == pytest.approx(math.log(1 + (5 - df + 0.5) / (df + 0.5)))
    assert ix.idf("zzz") > ix.idf(drill)  # unseen tokens are the rarest
    ix.remove([0, 1, 4])  # no drill left: the cached frequencies must be dropped
    assert ix.idf(drill) == pytest.approx(math.log(1 + (2 + 0.5) / 0.5))
