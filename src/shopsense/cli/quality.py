"""`shopsense quality` (check, flag, fill, report), `quality merge` / `quality unmerge` (explicit,
reversible duplicate merges) and `quality audit` (the audit table)."""
from __future__ import annotations

import argparse
import json
from typing import Any

from shopsense.errors import DataError


def register(sub: Any) -> None:
    p = sub.add_parser("quality", help="find duplicates, fill missing values, flag outliers and bots; write a report")
    p.add_argument("--steps", default="duplicates,missing,outliers,bots",
                   help="comma-separated subset of duplicates,missing,outliers,bots")
    p.add_argument("--no-encoder", action="store_true", help="skip the text encoder (no fills, MinHash duplicates only)")
    p.add_argument("--html", help="HTML report path (default <data_dir>/<quality.report_dir>/quality.html)")
    p.add_argument("--dry-run", action="store_true", help="report only; record nothing in the store")
    p.set_defaults(func=cmd_quality)
    qs = p.add_subparsers(dest="quality_command", metavar="ACTION")
    m = qs.add_parser("merge", help="merge duplicate clusters found by the last `shopsense quality` run (reversible)")
    g = m.add_mutually_exclusive_group(required=True)
    g.add_argument("--cluster", type=int, nargs="+", help="cluster ids from the report")
    g.add_argument("--all", action="store_true", help="every proposed cluster")
    m.set_defaults(func=cmd_merge)
    u = qs.add_parser("unmerge", help="undo a merge by its merge id (see `shopsense quality audit`)")
    u.add_argument("merge_id", type=int)
    u.set_defaults(func=cmd_unmerge)
    g = qs.add_parser("augment", help="synthetic search queries + enriched descriptions, kept as fills "
                                      "(fields synthetic_queries / enriched_description) beside the shop's text")
    g.add_argument("--no-encoder", action="store_true", help="keyphrases + templates only (no neighbour terms)")
    g.set_defaults(func=cmd_augment)
    a = qs.add_parser("audit", help="show the audit table, newest first")
    a.add_argument("--limit", type=int, default=30)
    a.set_defaults(func=cmd_audit)


def _store(settings: Any):
    from shopsense.store import open_store

    return open_store(settings.resolved_store_url())


def _report_dir(settings: Any):
    return settings.data_dir / settings.quality.report_dir


def cmd_quality(args: argparse.Namespace, settings: Any) -> int:
    from rich.console import Console

    from shopsense.quality.pipeline import apply_to_store, run_checks
    from shopsense.quality.report import print_summary, render_html

    console = Console()
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    store = _store(settings)
    items = list(store.iter_items())
    if not items:
        raise DataError("the catalog is empty", hint="run `shopsense ingest --items FILE` first")
    # all events, flagged ones included: detection is re-run over the whole log
    dataset = store.load_dataset(include_flagged=True) if "bots" in steps else None
    encoder = None
    if not args.no_encoder and ("missing" in steps or settings.quality.duplicates.method != "minhash"):
        from shopsense.text.encoder import get_encoder
        encoder = get_encoder(settings.text)
    report = run_checks(items, dataset, settings.quality, encoder=encoder, steps=steps, progress=True)
    if not args.dry_run:
        counts = apply_to_store(store, report, dataset, _report_dir(settings))
        console.print(f"rows before/after: {counts['before']} -> {counts['after']} (nothing deleted)")
    print_summary(report, console)
    path = render_html(report, args.html or (_report_dir(settings) / "quality.html"),
                       {it.item_id: it for it in items})
    console.print(f"HTML report: {path}")
    return 0


def cmd_merge(args: argparse.Namespace, settings: Any) -> int:
    path = _report_dir(settings) / "duplicates.json"
    if not path.exists():
        raise DataError("no duplicate proposals yet", source=str(path), hint="run `shopsense quality` first")
    clusters = {c["cluster_id"]: c for c in json.loads(path.read_text())["clusters"]}
    ids = sorted(clusters) if args.all else args.cluster
    missing = [i for i in ids if i not in clusters]
    if missing:
        raise DataError(f"unknown cluster ids {missing}", source=str(path), hint="see the HTML report or duplicates.json")
    store = _store(settings)
    for cid in ids:
        c = clusters[cid]
        dups = [m for m in c["member_ids"] if m != c["canonical_id"]]
        mid = store.merge_items(c["canonical_id"], dups)  # audited by the store
        print(f"cluster {cid}: merged {len(dups)} item(s) into {c['canonical_id']} (merge id {mid}; "
              f"undo: shopsense quality unmerge {mid})")
    return 0


def cmd_unmerge(args: argparse.Namespace, settings: Any) -> int:
    _store(settings).unmerge(args.merge_id)  # audited by the store
    print(f"merge {args.merge_id} undone")
    return 0


def cmd_augment(args: argparse.Namespace, settings: Any) -> int:
    from shopsense.text.augment import AugmentConfig, CatalogAugmenter

    store = _store(settings)
    items = list(store.iter_items())
    if not items:
        raise DataError("the catalog is empty", hint="run `shopsense ingest --items FILE` first")
    cfg = AugmentConfig(neighbor_terms=0, related_terms=0) if args.no_encoder else AugmentConfig()
    encoder = None
    if not args.no_encoder:
        from shopsense.text.encoder import get_encoder
        encoder = get_encoder(settings.text)
    aug = CatalogAugmenter(cfg, encoder=encoder).augment(items, progress=True)
    src = f"augment:{aug.source}"
    rows = [(i, "synthetic_queries", q, 1.0, src) for i, q in aug.queries.items() if q]
    rows += [(i, "enriched_description", d, 1.0, src) for i, d in aug.descriptions.items()]
    n = store.record_fills(rows)
    store.add_audit("quality.augment", "items", {"synthetic_queries": len(aug.queries),
                                                 "enriched_descriptions": len(aug.descriptions), "source": aug.source,
                                                 "config": cfg.model_dump()})
    print(f"recorded {n} augmented fields for {len(items)} items (source: {aug.source}); "
          "they sit in their own fields, the shop's text is unchanged")
    return 0


def cmd_audit(args: argparse.Namespace, settings: Any) -> int:
    import datetime as dt
    for row in _store(settings).audit_log(args.limit):
        ts = dt.datetime.fromtimestamp(row["ts"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        detail = json.dumps(row["detail"], default=str)
        print(f"{row['id']:>5} {ts} {row['action']:<22} {row['target']:<12} {detail[:160]}")
    return 0
