"""Search NDCG@10 on Home Depot test queries with vs. without synthetic queries, in one run.

BM25 (bm25s, English Snowball stemmer, English stopwords) over two fields: the title, and the
synthetic-queries field from `shopsense.text.augment.CatalogAugmenter` (encoder + catalog vocabulary
templates; no generative model). Score = BM25(title) + w·BM25(synthetic); w = 0 is the title-only
baseline. w is chosen on qrels_train only, then reported on qrels_test. Full-catalog retrieval over
all 54,667 products, gain = relevance − 1, unjudged = 0 (the shared protocol). Variants ablate which
slots feed the synthetic field.

Needs the MiniLM title embeddings (cached in benchmarks/out/hd_title_minilm.npy; computed if absent).
Run: .venv/bin/python benchmarks/bench_quality_augment.py
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from shopsense.evaluate.metrics import mrr_at_k, ndcg_at_k, recall_at_k
from shopsense.ingest.adapters import load_homedepot
from shopsense.text.augment import AugmentConfig, CatalogAugmenter, catalog_vocabulary
from shopsense.text.encoder import get_encoder

OUT = Path(__file__).parent / "out"
WEIGHTS = [0.0, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0]


def cached(path: Path, fn):
    if path.exists():
        return np.load(path)
    arr = fn()
    np.save(path, arr)
    return arr


def bm25(corpus: list[str]):
    import bm25s
    import Stemmer
    stem = Stemmer.Stemmer("english")
    r = bm25s.BM25()
    r.index(bm25s.tokenize(corpus, stopwords="en", stemmer=stem, show_progress=False), show_progress=False)
    return r, stem


def evaluate(title_idx, synth_idx, stem, ids, queries, qrels, weights, desc):
    import bm25s
    res = {w: {"ndcg": [], "mrr": [], "rec": []} for w in weights}
    qids = list(queries)
    toks = bm25s.tokenize([queries[q] for q in qids], stopwords="en", stemmer=stem, return_ids=False,
                          show_progress=False)
    for qid, qt in tqdm(list(zip(qids, toks)), desc=desc):
        if not qt:
            st = np.zeros(len(ids))
            ss = st
        else:
            st = title_idx.get_scores(qt)
            ss = synth_idx.get_scores(qt) if synth_idx is not None else 0 * st
        gains = {p: r - 1.0 for p, r in qrels[qid].items()}
        rel = {p for p, r in qrels[qid].items() if r >= 2.5}
        for w in weights:
            s = st + w * ss
            top = np.argpartition(-s, 100)[:100]
            top = top[np.argsort(-s[top], kind="stable")]
            ranked = [ids[i] for i in top]
            res[w]["ndcg"].append(ndcg_at_k(ranked, gains, 10))
            res[w]["mrr"].append(mrr_at_k(ranked, rel, 10))
            res[w]["rec"].append(recall_at_k(ranked, rel, 100) if rel else np.nan)
    return {w: {"NDCG@10": float(np.mean(v["ndcg"])), "MRR@10": float(np.mean(v["mrr"])),
                "Recall@100": float(np.nanmean(v["rec"]))} for w, v in res.items()}


def main() -> None:
    import argparse
    import random
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-queries", type=int, default=0, help="tune w on a seeded sample of train queries (0 = all)")
    args = ap.parse_args()
    t0 = time.time()
    hd = load_homedepot()
    items, ids = hd.items, [it.item_id for it in hd.items]
    OUT.mkdir(exist_ok=True)
    enc = None

    def encoder():
        nonlocal enc
        enc = enc or get_encoder()
        return enc

    emb = cached(OUT / "hd_title_minilm.npy", lambda: encoder().encode([i.title for i in items], progress=True))
    vocab = catalog_vocabulary(items, AugmentConfig().min_df)
    vemb = cached(OUT / f"hd_vocab_minilm_{len(vocab)}.npy", lambda: encoder().encode(vocab, progress=True))
    title_idx, stem = bm25([it.title for it in items])
    train_q = hd.queries["train"]
    if args.train_queries:
        keep = random.Random(0).sample(sorted(train_q), min(args.train_queries, len(train_q)))
        train_q = {q: train_q[q] for q in keep}
    variants = {
        "keyphrases + templates only": AugmentConfig(neighbor_terms=0, related_terms=0),
        "+ neighbour terms": AugmentConfig(related_terms=0),
        "+ neighbour + related terms (default)": AugmentConfig(),
    }
    rows = {}
    base_test = None
    for name, cfg in variants.items():
        t = time.time()
        aug = CatalogAugmenter(cfg).augment(items, emb, vocab_embeddings=(vocab, vemb), progress=True)
        gen_s = time.time() - t
        synth_idx, _ = bm25([aug.field_text(i) or "" for i in ids])
        tr = evaluate(title_idx, synth_idx, stem, ids, train_q, hd.qrels["train"], WEIGHTS, f"{name} train")
        best_w = max(WEIGHTS, key=lambda w: tr[w]["NDCG@10"])
        te = evaluate(title_idx, synth_idx, stem, ids, hd.queries["test"], hd.qrels["test"], [0.0, best_w, 0.3, 1.0],
                      f"{name} test")
        base_test = te[0.0]
        rows[name] = {"best_w_on_train": best_w, "train_ndcg_by_w": {str(w): round(v["NDCG@10"], 4) for w, v in tr.items()},
                      "test": te[best_w], "test_w0.3": te[0.3], "test_w1.0": te[1.0], "generate_seconds": round(gen_s, 1),
                      "examples": {i: aug.queries[i] for i in ids[:3]}}
        print(name, json.dumps({k: v for k, v in rows[name].items() if k != "examples"}))
    res = {"bench": "quality_augment", "dataset": "homedepot qrels_test (full catalog 54,667)",
           "train_queries_used_for_w": len(train_q),
           "baseline_title_only_test": base_test, "variants": rows, "vocabulary_terms": len(vocab),
           "seconds_total": round(time.time() - t0, 1),
           "machine": f"{platform.node()} {platform.machine()}, {__import__('os').cpu_count()} cores (shared)",
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(json.dumps(res, indent=1))
    (OUT / "bench_quality_augment.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
