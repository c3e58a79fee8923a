"""`shopsense train` and `shopsense recommend USER`.

train: load the store's dataset, fit the hybrid recommender (trending + similar items + personal model,
`recommend.personal` = sequential or cf) with progress bars, save it to <data_dir>/models/recommend.
recommend: load that folder and print the top items with their reasons. Heavy imports stay inside.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

MODEL_DIR = ("models", "recommend")


def register(sub: Any) -> None:
    t = sub.add_parser("train", help="fit the recommenders on the store's events and save them")
    t.add_argument("--personal", choices=["sequential", "cf"], help="override recommend.personal")
    t.add_argument("--epochs", type=int, help="override recommend.sequential.epochs")
    t.set_defaults(func=cmd_train)

    r = sub.add_parser("recommend", help="recommend items for a user (or a session history, or similar to an item)")
    r.add_argument("user", nargs="?", help="raw user id as ingested (pseudonymised with this install's key)")
    r.add_argument("-n", type=int, default=10)
    r.add_argument("--history", help="comma-separated item ids of the current session (instead of a user)")
    r.add_argument("--similar", metavar="ITEM", help="items similar to this item")
    r.add_argument("--exclude", help="comma-separated item ids never to return")
    r.add_argument("--category", help="only items in this category")
    r.add_argument("--pseudonymised", action="store_true", help="USER is already a stored pseudonym")
    r.add_argument("--json", action="store_true", help="print JSON records")
    r.set_defaults(func=cmd_recommend)


def cmd_train(args: argparse.Namespace, settings: Any) -> int:
    import torch

    from shopsense.recommend.coldstart import HybridRecommender
    from shopsense.store import open_store

    torch.set_num_threads(settings.recommend.threads)
    cfg = settings.recommend
    if args.personal:
        cfg = cfg.model_copy(update={"personal": args.personal})
    if args.epochs:
        cfg = cfg.model_copy(update={"sequential": cfg.sequential.model_copy(update={"epochs": args.epochs})})
    t0 = time.time()
    ds = open_store(settings.resolved_store_url()).load_dataset()
    print(f"dataset: {ds.n_items} items, {ds.n_users} users, {len(ds.events)} events")
    rec = HybridRecommender(cfg, text_config=settings.text).fit(ds)
    out = rec.save(settings.path(*MODEL_DIR))
    print(f"saved {rec.kind} recommender (fingerprint {rec.fingerprint}) to {out} in {time.time() - t0:.0f}s")
    return 0


def cmd_recommend(args: argparse.Namespace, settings: Any) -> int:
    from shopsense.errors import DataError
    from shopsense.recommend.persist import load_recommender

    rec = load_recommender(settings.data_dir.joinpath(*MODEL_DIR))
    query: Any
    if args.similar:
        query = [args.similar]
    elif args.history:
        query = [x.strip() for x in args.history.split(",") if x.strip()]
    elif args.user:
        if args.pseudonymised:
            query = args.user
        else:
            from shopsense.ingest.pseudonym import Pseudonymizer

            query = Pseudonymizer(settings.hmac_key()).user(args.user.strip())
    else:
        raise DataError("give a USER, --history ITEMS or --similar ITEM")
    exclude = [x.strip() for x in args.exclude.split(",")] if args.exclude else None
    filters = {"category": args.category} if args.category else None
    items = rec.recommend(query, args.n, exclude=exclude, filters=filters)
    if args.json:
        print(json.dumps(items.to_records(), indent=1, default=str))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("rank", "item", "score", "why")
    for rank, (item_id, score, reasons) in enumerate(items, start=1):
        why = "; ".join(", ".join(f"{k}={v}" for k, v in r.items() if k != "rank") for r in reasons)
        table.add_row(str(rank), item_id, f"{score:.4f}", why)
    Console().print(table)
    return 0
