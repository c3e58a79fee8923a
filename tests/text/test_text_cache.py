from __future__ import annotations

import numpy as np
import pytest

from shopsense.errors import DataError
from shopsense.text.cache import CachedEncoder
from shopsense.text.encoder import HashingEncoder


class CountingEncoder(HashingEncoder):
    def __init__(self) -> None:
        super().__init__(dim=32)
        self.seen: list[str] = []

    def encode(self, texts, *, progress=False):
        self.seen += list(texts)
        return super().encode(texts)


def test_unchanged_catalog_encodes_nothing_and_changed_items_alone(tmp_path):
    texts = ["red drill", "blue hammer", "garden hose", "red drill"]
    base = CountingEncoder()
    enc = CachedEncoder(base, tmp_path / "c", chunk=2)
    v1 = enc.encode(texts, progress=True)
    assert sorted(base.seen) == ["blue hammer", "garden hose", "red drill"]  # duplicate encoded once
    np.testing.assert_allclose(v1, HashingEncoder(32).encode(texts), atol=1e-6)

    base2 = CountingEncoder()  # new process: the cache is read from disk
    enc2 = CachedEncoder(base2, tmp_path / "c")
    v2 = enc2.encode(texts)
    assert base2.seen == [] and enc2.stats == {"hits": 4, "misses": 0}
    np.testing.assert_array_equal(v1, v2)

    v3 = enc2.encode(["red drill", "blue hammer XL", "garden hose"])
    assert base2.seen == ["blue hammer XL"]
    np.testing.assert_array_equal(v3[0], v1[0])


def test_cache_of_another_model_is_refused(tmp_path):
    CachedEncoder(HashingEncoder(32), tmp_path / "c").encode(["x"])
    with pytest.raises(DataError, match="belongs to model"):
        CachedEncoder(HashingEncoder(64), tmp_path / "c")


def test_empty_input(tmp_path):
    assert CachedEncoder(HashingEncoder(16), tmp_path / "c").encode([]).shape == (0, 16)
