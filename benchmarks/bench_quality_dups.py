"""Duplicate detection precision/recall on planted near-duplicates in a real catalog.

Takes the 54,667 real Home Depot titles, copies N random products with perturbed titles (case,
punctuation, a dropped / swapped / misspelt word, a marketing word; model numbers and sizes are kept,
as a re-listed product keeps them) and runs `find_duplicates` on catalog + copies.

- recall: planted (original, copy) pairs that end up in one cluster.
- precision (strict): of the pairs (copy, other) in the predicted clusters, those whose other is the
  copy's original. Lenient also accepts an item the detector already clustered with the original in
  the clean catalog (a natural near-duplicate of it).
Also reports how many clusters the clean real catalog has (unlabelled; a sample is printed).

Run: .venv/bin/python benchmarks/bench_quality_dups.py [--n 1000] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import platform
import random
import re
import time
from pathlib import Path

import numpy as np

from shopsense.ingest.adapters import load_homedepot
from shopsense.quality.config import DuplicateConfig
from shopsense.quality.duplicates import find_duplicates
from shopsense.types import Item

OUT = Path(__file__).parent / "out"
MARKETING = ["New", "Free Shipping", "(1-Pack)", "- Best Seller", "Genuine", "Value Pack"]


def perturb(title: str, rng: random.Random) -> str:
    for _ in range(20):  # some operations do not apply to some titles: retry until the title changed
        out = _perturb_once(title, rng)
        if out != title:
            return out
    return title + " " + rng.choice(MARKETING)


def _perturb_once(title: str, rng: random.Random) -> str:
    words = title.split()
    alpha = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 2]
    ops = rng.sample(["case", "punct", "drop", "swap", "typo", "market"], k=rng.choice([1, 2]))
    for op in ops:
        if op == "case":
            words = [w.lower() if rng.random() < 0.5 else w.upper() for w in words]
        elif op == "punct":
            words = [re.sub(r"[-,.]", rng.choice([" ", ""]), w) if not any(c.isdigit() for c in w) else w
                     for w in words]
        elif op == "drop" and len(alpha) > 2:
            del words[rng.choice(alpha[1:])]
        elif op == "swap" and len(words) > 3:
            i = rng.randrange(len(words) - 1)
            if not any(c.isdigit() for c in words[i] + words[i + 1]):
                words[i], words[i + 1] = words[i + 1], words[i]
        elif op == "typo" and alpha:
            i = rng.choice(alpha)
            w = words[i] if i < len(words) else ""
            if len(w) > 4 and w.isalpha():
                k = rng.randrange(1, len(w) - 2)
                words[i] = w[:k] + w[k + 1] + w[k] + w[k + 2:]
        elif op == "market":
            words = words + [rng.choice(MARKETING)] if rng.random() < 0.5 else [rng.choice(MARKETING)] + words
        alpha = [i for i, w in enumerate(words) if w.isalpha() and len(w) > 2]
    return " ".join(words)


def pair_set(clusters):
    pairs = set()
    for c in clusters:
        m = sorted(c.member_ids)
        pairs |= {(a, b) for i, a in enumerate(m) for b in m[i + 1:]}
    return pairs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", help="run only configs whose name contains this")
    ap.add_argument("--methods", default="minhash,embedding",
                    help="which detector families to run; rows merge into the existing JSON by config name")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    hd = load_homedepot()
    real = hd.items
    picks = rng.sample(range(len(real)), args.n)
    copies = [Item(item_id=f"dup-{real[i].item_id}", title=perturb(real[i].title, rng)) for i in picks]
    truth = {c.item_id: real[i].item_id for c, i in zip(copies, picks)}
    catalog = real + copies
    emb_path = OUT / "hd_title_minilm.npy"
    emb = None
    methods = args.methods.split(",")
    if emb_path.exists() and "embedding" in methods:
        from shopsense.text.encoder import get_encoder
        cache = OUT / f"hd_dup_copies_{args.n}_{args.seed}.npy"
        if cache.exists():
            ec = np.load(cache)
        else:
            ec = get_encoder().encode([c.title for c in copies], progress=True)
            np.save(cache, ec)
        emb = np.vstack([np.load(emb_path), ec])
    loose = {"reject_substitutions": False}
    configs = [("minhash J>=0.8, substitutions allowed", DuplicateConfig(jaccard_threshold=0.8, **loose)),
               ("minhash J>=0.7, substitutions allowed", DuplicateConfig(jaccard_threshold=0.7, **loose)),
               ("minhash J>=0.6, substitutions allowed", DuplicateConfig(jaccard_threshold=0.6, **loose)),
               ("minhash J>=0.7, codes not required, substitutions allowed",
                DuplicateConfig(jaccard_threshold=0.7, require_same_codes=False, **loose)),
               ("minhash J>=0.7 + substitution guard (default)", DuplicateConfig())]
    if "minhash" not in methods:
        configs = []
    if args.only:
        configs = [c for c in configs if args.only in c[0]]
    if emb is not None:
        configs += [("embedding cos>=0.95", DuplicateConfig(method="embedding", cosine_threshold=0.95)),
                    ("both: J>=0.7 or cos>=0.95", DuplicateConfig(method="both"))]
    rows = []
    for name, cfg in configs:
        t = time.time()
        clean = find_duplicates(real, cfg, embeddings=None if emb is None else emb[:len(real)], progress=True)
        natural = pair_set(clean)
        cl = find_duplicates(catalog, cfg, embeddings=emb, progress=True)
        secs = time.time() - t
        pairs = pair_set(cl)
        found = sum(1 for c, o in truth.items() if (min(c, o), max(c, o)) in pairs)
        cand = [(a, b) for a, b in pairs if a.startswith("dup-") or b.startswith("dup-")]
        strict = lenient = 0
        for a, b in cand:
            c, o = (a, b) if a.startswith("dup-") else (b, a)
            if truth.get(c) == o:
                strict += 1
                lenient += 1
            elif (min(truth.get(c, ""), o), max(truth.get(c, ""), o)) in natural:
                lenient += 1
        r = {"config": name, "recall": found / len(truth), "precision_strict": strict / max(1, len(cand)),
             "precision_lenient": lenient / max(1, len(cand)), "planted": len(truth), "pairs_with_copies": len(cand),
             "clean_catalog_clusters": len(clean), "clean_catalog_items_in_clusters": sum(len(c.member_ids) for c in clean),
             "seconds_both_runs": round(secs, 1)}
        rows.append(r)
        print(json.dumps(r))
        if "(default)" in name:
            ex = [[next(i.title for i in real if i.item_id == m) for m in c.member_ids[:3]] for c in clean[:200:40]]
            print("sample natural clusters:", json.dumps(ex, indent=1))
    old = OUT / "bench_quality_dups.json"
    if old.exists():
        prev = json.loads(old.read_text())
        if prev.get("rows") and prev["rows"][0]["planted"] == args.n:
            names = {r["config"] for r in rows}
            rows = [r for r in prev["rows"] if r["config"] not in names] + rows
    res = {"bench": "quality_dups", "dataset": "homedepot products.csv", "n_real": len(real), "rows": rows,
           "machine": f"{platform.node()} {platform.processor() or platform.machine()}", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_quality_dups.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
