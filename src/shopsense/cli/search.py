"""`shopsense search "query"` and `shopsense search-index`: product search over the store's catalog.

The index lives in <data_dir>/search (a folder of .npy + JSON) and item embeddings in
<data_dir>/embeddings (keyed by model + text), so re-indexing an unchanged catalog encodes nothing.
Heavy imports happen inside the command functions, never at import time.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("search", help="search the catalog (builds/updates the search index from the store)")
    p.add_argument("query", help="what the shopper typed, e.g. \"cordless drill under 100\"")
    p.add_argument("-k", "--top", type=int, default=10, help="results to show (default 10)")
    p.add_argument("--mode", choices=["hybrid", "bm25", "dense"], help="retriever (default from settings)")
    p.add_argument("--price-min", type=float)
    p.add_argument("--price-max", type=float)
    p.add_argument("--category", action="append", default=[], help="category path prefix, repeatable")
    p.add_argument("--brand", action="append", default=[], help="brand, repeatable")
    p.add_argument("--min-rating", type=float)
    p.add_argument("--in-stock", action="store_true")
    p.add_argument("--facets", action="store_true", help="show facet counts over the full result set")
    p.add_argument("--no-understand", action="store_true", help="no typo fixes / price parsing / category boost")
    p.add_argument("--json", action="store_true", help="print JSON (results with reasons, facets, parsed query)")
    p.add_argument("--no-sync", action="store_true", help="use the saved index as is, without syncing the store")
    p.set_defaults(func=cmd_search)

    b = sub.add_parser("search-index", help="build or update the search index from the store's items")
    b.add_argument("--rebuild", action="store_true", help="start from scratch (embeddings still come from cache)")
    b.set_defaults(func=cmd_index)

    f = sub.add_parser("search-finetune", help="fine-tune the sentence encoder on judged (query, item) pairs "
                                               "of the store's catalog; use it with text.model_path")
    f.add_argument("--qrels", required=True, help="TSV with columns query_id, query, item_id (or product_uid), "
                                                  "relevance (graded, e.g. 1..3)")
    f.add_argument("--out", required=True, help="folder to write the model to (sentence-transformers format)")
    f.add_argument("--epochs", type=int)
    f.add_argument("--batch-size", type=int)
    f.add_argument("--lr", type=float, dest="learning_rate")
    f.add_argument("--min-relevance", type=float, help="judged pairs at or above this are positives")
    f.add_argument("--hard-negatives", type=int, help="BM25 hard negatives per pair (0 = in-batch only)")
    f.add_argument("--max-steps", type=int)
    f.add_argument("--threads", type=int, help="torch threads while training (default: text.threads)")
    f.add_argument("--checkpoint-every", type=int, default=50,
                   help="steps between checkpoints in OUT.partial/ (0 = none); rerunning the same command after "
                        "an interruption continues from the last one (delete OUT.partial/ to start over)")
    f.set_defaults(func=cmd_finetune)


def _paths(settings: Any):
    return settings.path("search", "index"), settings.path("embeddings")


def _sync(engine, settings: Any, progress: bool, learn_logs: bool = False) -> dict[str, int]:
    """Bring the index in line with the store: upsert new/changed items, remove deleted ones. Category
    intent's query logs are rebuilt from the store's events when items changed or `learn_logs` (the index
    command: events logged since the last run count even when no item changed); stats["query_logs"] is then
    the number of (query, product) events it learned from."""
    from shopsense.store import open_store

    store = open_store(settings.resolved_store_url())
    try:
        items = list(store.iter_items())
        stats = engine.upsert(items, progress=progress) if items else {"added": 0, "changed": 0, "unchanged": 0}
        live = {i.item_id for i in items}
        gone = [i for i, a in zip(engine.ids.ids, engine.alive) if a and i not in live]
        if gone:
            engine.remove(gone)
        stats["removed"] = len(gone)
        if engine.intent is not None and (learn_logs or any(stats[k] for k in ("added", "changed", "removed"))):
            stats["query_logs"] = _add_logs(engine, store)
    finally:
        close = getattr(store, "close", None)
        if close:
            close()
    return stats


def _add_logs(engine, store) -> int:
    """Click/cart/purchase events that carry a query feed category intent (when the store has them)."""
    try:
        ds = store.load_dataset()
    except Exception:  # noqa: BLE001 - logs are optional for search
        return 0
    return engine.learn_query_logs(ds)


def _engine(settings: Any, rebuild: bool = False, sync: bool = True, progress: bool = True,
            learn_logs: bool = False):
    from shopsense.errors import DataError
    from shopsense.search.engine import SearchEngine

    folder, cache = _paths(settings)
    if (folder / "engine.json").exists() and not rebuild:
        engine = SearchEngine.load(folder, cache_dir=cache, search=settings.search)
        if engine.text_config != settings.text or engine.index_config != settings.index:
            engine = SearchEngine(settings.text, settings.index, settings.search, cache_dir=cache)
    else:
        engine = SearchEngine(settings.text, settings.index, settings.search, cache_dir=cache)
    stats = {}
    if sync or len(engine) == 0:
        before = engine.intent.snapshot() if engine.intent is not None else None
        stats = _sync(engine, settings, progress, learn_logs)
        if len(engine) == 0:
            raise DataError("the catalog is empty", hint="run `shopsense ingest --items FILE` first")
        if any(stats.get(k) for k in ("added", "changed", "removed")) or not (folder / "engine.json").exists():
            engine.save(folder)
        elif engine.intent is not None and engine.intent.snapshot() != before:
            engine.intent.save(folder / "intent")  # only the query logs changed: the indexes stay as saved
    return engine, stats


def cmd_index(args: argparse.Namespace, settings: Any) -> int:
    engine, stats = _engine(settings, rebuild=args.rebuild, learn_logs=True)
    print(f"search index: {len(engine)} items ({', '.join(f'{k} {v}' for k, v in stats.items())}) "
          f"-> {_paths(settings)[0]}")
    return 0


def cmd_finetune(args: argparse.Namespace, settings: Any) -> int:
    from pathlib import Path

    from shopsense.errors import DataError
    from shopsense.index.lexical import LexicalIndex
    from shopsense.store import open_store
    from shopsense.text.finetune import FinetuneConfig, finetune, judged_pairs, load_judgments
    from shopsense.text.itemtext import item_text

    kw = {k: getattr(args, k) for k in ("epochs", "batch_size", "learning_rate", "min_relevance", "hard_negatives",
                                        "max_steps", "threads") if getattr(args, k) is not None}
    kw.setdefault("threads", settings.text.threads)
    cfg = FinetuneConfig(**kw)
    queries, qrels = load_judgments(args.qrels)
    store = open_store(settings.resolved_store_url())
    try:
        items = list(store.iter_items())
    finally:
        close = getattr(store, "close", None)
        if close:
            close()
    if not items:
        raise DataError("the catalog is empty", hint="run `shopsense ingest --items FILE` first")
    tc = settings.text
    texts = {it.item_id: item_text(it, tc.item_fields, tc.max_chars) for it in items}
    negatives = None
    if cfg.hard_negatives:
        ix = LexicalIndex(settings.index)
        ids = [it.item_id for it in items]
        ix.set_docs(list(range(len(items))),
                    [item_text(it, settings.index.lexical_fields, 10_000) for it in items])
        negatives = {}
        for qid, q in queries.items():
            sc = ix.scores(ix.tokenize(q))
            top = sc.argsort()[::-1][:30]
            negatives[qid] = [ids[t] for t in top if sc[t] > 0]
    pairs = judged_pairs(queries, qrels, texts, negatives=negatives, config=cfg)
    print(f"{len(pairs)} training pairs from {len(queries)} judged queries "
          f"(relevance >= {cfg.min_relevance}, {cfg.hard_negatives} hard negatives each)")
    rep = finetune(pairs, Path(args.out), cfg, base=tc.model_path or None, checkpoint_every=args.checkpoint_every)
    resumed = f" (continued from the checkpoint at step {rep.resumed_from})" if rep.resumed_from else ""
    print(f"saved to {args.out}: {rep.steps} steps{resumed} in {rep.seconds:.0f}s, loss "
          f"{rep.losses[0]:.3f} -> {rep.losses[-1]:.3f}. Use it with text.model_path = {str(args.out)!r} "
          f"(or SHOPSENSE_TEXT__MODEL_PATH), then `shopsense search-index --rebuild`.")
    return 0


def cmd_search(args: argparse.Namespace, settings: Any) -> int:
    from shopsense.index.catalog import Filters

    engine, _ = _engine(settings, sync=not args.no_sync, progress=not args.json)
    f = Filters(price_min=args.price_min, price_max=args.price_max, category=args.category, brand=args.brand,
                min_rating=args.min_rating, in_stock=args.in_stock)
    res = engine.search(args.query, k=args.top, filters=None if f.is_empty() else f, mode=args.mode,
                        understand=False if args.no_understand else None, facets=args.facets)
    if args.json:
        print(json.dumps(res.to_dict(), indent=1, default=str, ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    con = Console()
    pq = res.query
    bits = [f"searched for {pq.text!r}"]
    if pq.corrections:
        bits.append("corrected " + ", ".join(f"{a}->{b}" for a, b in pq.corrections.items()))
    if not pq.filters.is_empty():
        bits.append(f"filters {pq.filters.model_dump(exclude_defaults=True)}")
    if pq.category:
        bits.append(f"likely category {pq.category[0][0]} ({pq.category[0][1]:.0%})")
    con.print("; ".join(bits) + f"; {res.total} matches")
    for n in pq.notes:
        con.print(f"[yellow]note:[/yellow] {n}")
    t = Table()
    for c in ("#", "item", "title", "price", "score", "why"):
        t.add_column(c)
    for r, (iid, score, reasons) in enumerate(res.items, 1):
        row = engine.ids.get(iid)
        price = engine.catalog.price[row]
        why = "; ".join(_why(x) for x in reasons if x["source"] in ("bm25", "dense", "category_boost", "reranker"))
        t.add_row(str(r), iid, engine.lex_texts[row][:70], "" if price != price else f"{price:.2f}",
                  f"{score:.3f}", why)
    con.print(t)
    if res.facets:
        for name in ("category", "brand", "price", "rating"):
            if res.facets.get(name):
                con.print(f"[bold]{name}[/bold]: " + ", ".join(f"{k} ({v})" for k, v in res.facets[name].items()))
    return 0


def _why(r: dict) -> str:
    s = r["source"]
    if s == "bm25":
        return f"bm25 #{r['rank']} matched {' '.join(r['matched'])}"
    if s == "dense":
        return f"semantic #{r['rank']} cos {r['cosine']:.2f}"
    if s == "category_boost":
        return f"+{r['boost']:.3f} for {r['category']}"
    return f"re-ranked {r['score']:.2f}"
