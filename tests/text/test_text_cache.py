from __future__ import annotations

import json

import numpy as np
import pytest

from shopsense.errors import DataError
from shopsense.text.cache import CachedEncoder, CachedTokens, text_key
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


def _word_vectors(text: str, dim: int = 8) -> np.ndarray:
    rows = [np.random.default_rng(sum(map(ord, w))).standard_normal(dim) for w in text.split()]
    v = np.array(rows, np.float32).reshape(-1, dim)
    return v / np.linalg.norm(v, axis=1, keepdims=True) if len(v) else v


class TokenEncoder:
    """One unit vector per word (seeded by the word), counting the texts it is asked for."""

    def __init__(self, name: str = "fake-tokens") -> None:
        self.name, self.dim, self.seen = name, 8, []

    def encode_tokens(self, texts, *, progress=False):
        self.seen += list(texts)
        return [_word_vectors(t) for t in texts]


def test_token_cache_appends_segments_and_reads_them_mapped(tmp_path):
    texts = ["red drill", "blue hammer", "garden hose", "red drill", ""]
    enc = TokenEncoder()
    out = CachedTokens(enc, tmp_path / "t", chunk=2).encode_tokens(texts)
    assert sorted(enc.seen) == ["", "blue hammer", "garden hose", "red drill"]  # the duplicate once
    for t, o in zip(texts, out):
        np.testing.assert_allclose(o, _word_vectors(t), atol=1 / 127)
    assert json.loads((tmp_path / "t" / "meta.json").read_text())["segments"] == ["seg-000000", "seg-000001"]
    first = (tmp_path / "t" / "seg-000000.tokens.npy").stat()

    enc2 = TokenEncoder()  # a new process: read from disk, mapped, not loaded
    cache = CachedTokens(enc2, tmp_path / "t", chunk=2)
    assert isinstance(cache._parts[0][1], np.memmap)
    again = cache.encode_tokens(["saw blade", *texts])
    assert enc2.seen == ["saw blade"]  # the new text alone
    for a, b in zip(again[1:], out):
        np.testing.assert_array_equal(a, b)
    after = (tmp_path / "t" / "seg-000000.tokens.npy").stat()
    assert (after.st_ino, after.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)  # nothing stored is rewritten
    assert len(CachedTokens(TokenEncoder(), tmp_path / "t")._segments) == 3
    with pytest.raises(DataError, match="belongs to model"):
        CachedTokens(TokenEncoder("other"), tmp_path / "t")


def test_token_cache_reads_the_single_array_layout_and_skips_an_unlisted_segment(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    enc = TokenEncoder()
    texts = ["red drill", "garden hose"]
    vecs = [np.round(_word_vectors(t) * 127).astype(np.int8) for t in texts]  # as the earlier version wrote it
    (folder / "keys.json").write_text(json.dumps([text_key(enc.name, t) for t in texts]))
    np.save(folder / "offsets.npy", np.array([0, 2, 4], np.int64))
    np.save(folder / "tokens.npy", np.concatenate(vecs))
    (folder / "meta.json").write_text(json.dumps({"model": enc.name, "dim": 8}))
    np.save(folder / "seg-000001.tokens.npy", np.zeros((3, 5), np.int8))  # an interrupted run's leftover

    out = CachedTokens(enc, folder).encode_tokens(["garden hose", "leaf blower"])
    assert enc.seen == ["leaf blower"]
    np.testing.assert_allclose(out[0], _word_vectors("garden hose"), atol=1 / 127)
    assert json.loads((folder / "meta.json").read_text())["segments"] == ["", "seg-000001"]
    back = CachedTokens(TokenEncoder(), folder).encode_tokens(["red drill", "leaf blower"])
    np.testing.assert_array_equal(back[1], out[1])
    np.testing.assert_allclose(back[0], _word_vectors("red drill"), atol=1 / 127)
    np.save(folder / "seg-000001.offsets.npy", np.array([0, 9], np.int64))  # damaged: a clear error, not garbage
    with pytest.raises(DataError, match="inconsistent"):
        CachedTokens(TokenEncoder(), folder)
