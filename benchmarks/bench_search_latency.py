"""Search latency on a ~109k-item catalog and encoder throughput (cached vs bare).

Catalog: the 54,667 Home Depot products twice, the copies with new ids ("<uid>-b", title + " v2") and
their vectors jittered (deterministic noise, re-normalised) so the ANN graph does not hold exact
duplicates. Item vectors come from the benchmark's embedding cache (benchmarks/out/emb_cache, made by
bench_search.py or on first run here). Queries: the Home Depot test queries, each searched once,
after a warm-up on train queries; the query-embedding cache is off, so every search encodes its query.

    .venv/bin/python benchmarks/bench_search_latency.py [--queries 500] [--throughput-texts 512]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from shopsense.ingest.adapters import load_homedepot, shared_data_dir  # noqa: E402
from shopsense.search.config import SearchConfig  # noqa: E402
from shopsense.search.engine import SearchEngine  # noqa: E402
from shopsense.text.cache import CachedEncoder, CachedTokens  # noqa: E402

OUT = Path(__file__).parent / "out"
SUFFIX = " v2"


class CopyEncoder:
    """Item vectors for the benchmark catalog: a copy's text (title + SUFFIX) gets its original's cached
    vector plus small deterministic noise; everything else goes to the cached encoder."""

    def __init__(self, cached: CachedEncoder) -> None:
        self.cached, self.name, self.dim = cached, cached.name, cached.dim

    def encode(self, texts, *, progress=False):
        base = [t[: -len(SUFFIX)] if t.endswith(SUFFIX) else t for t in texts]
        v = self.cached.encode(base, progress=progress).copy()
        copies = np.array([t.endswith(SUFFIX) for t in texts])
        if copies.any():
            rng = np.random.default_rng(0)
            v[copies] += rng.normal(0, 0.02, size=(int(copies.sum()), self.dim)).astype(np.float32)
            v[copies] /= np.linalg.norm(v[copies], axis=1, keepdims=True)
        return v


class CopyTokens:
    """Token vectors the same way: a copy's title gets its original's (cached) token vectors."""

    def __init__(self, cached) -> None:
        self.cached = cached

    def encode_tokens(self, texts, *, progress=False):
        return self.cached.encode_tokens([t[: -len(SUFFIX)] if t.endswith(SUFFIX) else t for t in texts],
                                         progress=progress)


def pct(xs, p):
    return float(np.percentile(np.asarray(xs) * 1000, p))


def throughput(enc, texts):
    """texts/s of the bare encoder vs our cached encoder on a cold cache (same texts, same batch size)."""
    enc.encode(texts[:32])  # warm
    t = time.perf_counter()
    enc.encode(texts)
    bare = len(texts) / (time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as d:
        ce = CachedEncoder(enc, d)
        t = time.perf_counter()
        ce.encode(texts, progress=False)
        cached_cold = len(texts) / (time.perf_counter() - t)
        t = time.perf_counter()
        ce.encode(texts)
        cached_warm = len(texts) / (time.perf_counter() - t)
    # bare again, so drift from other processes shows up in the spread
    t = time.perf_counter()
    enc.encode(texts)
    bare2 = len(texts) / (time.perf_counter() - t)
    return {"bare_texts_per_s": [bare, bare2], "cached_cold_texts_per_s": cached_cold,
            "cached_warm_texts_per_s": cached_warm, "cold_ratio_vs_mean_bare": cached_cold / ((bare + bare2) / 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--throughput-texts", type=int, default=512, help="0 skips the throughput measurement")
    ap.add_argument("--query-threads", type=int, nargs="+", default=[1],
                    help="ONNX Runtime threads per query encode (search.query_threads; a server keeps 1 since it "
                         "runs requests in parallel, a single stream of queries can use both cores)")
    ap.add_argument("--query-precision", nargs="+", default=["int8", "fp32"], choices=["int8", "fp32"],
                    help="ONNX query network(s) timed side by side (search.query_precision)")
    ap.add_argument("--blas-threads", type=int, default=None,
                    help="BLAS threads while searches are timed; default: what the server sets (serve.blas_threads, "
                         "1); 0 = the library's own default (all cores). Idle BLAS threads that spin beside the "
                         "search thread on 2 cores stalled ~1 % of searches by ~35 ms (benchmarks/results/search.md)")
    ap.add_argument("--reranker", default="", help="a saved re-ranker folder (default: the one bench_search.py "
                                                  "saved in out/engine_homedepot)")
    a = ap.parse_args(argv)
    if shared_data_dir() is None:
        print("shared data not found: nothing to benchmark", file=sys.stderr)
        return 2
    from shopsense.text.encoder import MiniLMEncoder

    j = load_homedepot()
    items = list(j.items) + [it.model_copy(update={"item_id": it.item_id + "-b", "title": it.title + SUFFIX})
                             for it in j.items]
    enc = MiniLMEncoder(batch_size=64)
    cached = CachedEncoder(enc, OUT / "emb_cache" / enc.name)
    t = time.time()
    engine = SearchEngine(search=SearchConfig(query_cache=0), encoder=enc)
    engine._item_encoder = lambda: CopyEncoder(cached)  # benchmark-only: copies reuse cached vectors
    engine._token_encoder = lambda: CopyTokens(CachedTokens(enc, OUT / "emb_cache" / f"{enc.name}-tokens"))
    engine.upsert(items, progress=True)
    build_s = time.time() - t
    print(f"catalog {len(engine)} items, built in {build_s:.0f}s", flush=True)
    rr = Path(a.reranker) if a.reranker else OUT / "engine_homedepot" / "reranker"
    if rr.exists():
        from shopsense.search.rerank import Reranker

        engine.reranker = Reranker.load(rr)
    warm = list(j.queries["train"].values())[:50]
    qs = list(dict.fromkeys(j.queries["test"].values()))[: a.queries]
    res = {}
    variants = []
    for p in a.query_precision:
        for n in a.query_threads:
            tag = (f", {p} queries" if len(a.query_precision) > 1 else "") + \
                  ("" if a.query_threads == [1] else f", query_threads={n}")
            variants += [(f"hybrid + QU{tag}", dict(rerank=False, threads=n, precision=p)),
                         (f"hybrid + QU + re-ranker{tag}", dict(rerank=True, threads=n, precision=p))]
    if engine.tokens is not None:  # the soft term match's cost: the same re-ranker with the engine's token vectors off
        variants += [("hybrid + QU + re-ranker, token vectors off (baseline)", dict(rerank=True, notok=True))]
    if engine.neighbours is not None:  # the neighbour features' cost: the same re-ranker with the lists off
        variants += [("hybrid + QU + re-ranker, neighbour lists off (baseline)", dict(rerank=True, nonb=True))]
    variants += [("BM25 only", dict(mode="bm25", rerank=False)),
                ("hybrid + QU + re-ranker, query vectors pre-encoded", dict(rerank=True, pre=True))]
    from threadpoolctl import threadpool_limits

    from shopsense.serve.config import ServeConfig

    blas = ServeConfig().blas_threads if a.blas_threads is None else a.blas_threads
    limits = threadpool_limits(blas, user_api="blas") if blas else None  # undone before the throughput run
    print(f"BLAS threads while searching: {blas or 'library default'}", flush=True)
    for name, kw in variants:
        if kw.pop("pre", False):  # retrieval cost alone: query embeddings computed in one batch beforehand
            engine.config.query_cache = 100_000
            engine.encode_queries([engine.parse(q).dense_text for q in warm + qs])
        if kw.get("rerank") and engine.reranker is None:
            continue
        tokens, neighbours = engine.tokens, engine.neighbours
        if kw.pop("notok", False):
            engine.tokens = None  # the model reads the six columns as missing values
        if kw.pop("nonb", False):
            engine.neighbours = None  # the seven v5 columns missing, likewise
        threads, precision = kw.pop("threads", None), kw.pop("precision", None)
        if threads is not None and threads != engine.config.query_threads:
            engine.config.query_threads, engine._qencoder = threads, None  # rebuilt with that many threads
        if precision is not None and precision != engine.config.query_precision:
            engine.config.query_precision, engine._qencoder = precision, None
        for q in warm:
            engine.search(q, k=10, **kw)
        total, enc_t = [], []
        for q in qs:
            t0 = time.perf_counter()
            engine.search(q, k=10, **kw)
            total.append(time.perf_counter() - t0)
        if kw.get("mode") != "bm25" and not engine.config.query_cache:
            for q in qs[:200]:
                t0 = time.perf_counter()
                enc.encode([q])
                enc_t.append(time.perf_counter() - t0)
        engine.tokens, engine.neighbours = tokens, neighbours
        res[name] = {"p50_ms": pct(total, 50), "p99_ms": pct(total, 99), "mean_ms": float(np.mean(total) * 1000)}
        if enc_t:
            res[name]["query_encode_p50_ms"] = pct(enc_t, 50)
            res[name]["query_encode_p99_ms"] = pct(enc_t, 99)
        print(name, {k: round(v, 2) for k, v in res[name].items()}, flush=True)
    if limits is not None:
        limits.restore_original_limits()
    tp = throughput(enc, [it.title for it in j.items[: a.throughput_texts]]) if a.throughput_texts else {}
    print("throughput", {k: (np.round(v, 1).tolist() if isinstance(v, list) else round(v, 3)) for k, v in tp.items()})
    (OUT / "search_latency.partial.json").write_text(json.dumps(res, indent=1))
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.platform(),
           "cpus": os.cpu_count(), "load_avg": os.getloadavg(), "catalog_items": len(engine),
           "build_s": build_s, "queries": len(qs), "blas_threads": blas or "library default", "latency": res, "throughput": tp}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "search_latency.json").write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
