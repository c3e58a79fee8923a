"""`shopsense ingest`, `shopsense stats`, `shopsense quarantine`."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("ingest", help="load catalog and/or event files (CSV, JSONL, Parquet) into the store")
    p.add_argument("--items", nargs="*", default=[], help="catalog file(s)")
    p.add_argument("--events", nargs="*", default=[], help="event log file(s)")
    p.add_argument("--format", choices=["csv", "tsv", "jsonl", "parquet"], help="override format detection")
    p.set_defaults(func=cmd_ingest)

    s = sub.add_parser("stats", help="counts, date ranges, top categories, event-type mix")
    s.set_defaults(func=cmd_stats)

    q = sub.add_parser("quarantine", help="list rejected rows with file, line and reason")
    q.add_argument("--reason", help="only this reason code")
    q.add_argument("--limit", type=int, default=20)
    q.set_defaults(func=cmd_quarantine)


def _store(settings: Any):
    from shopsense.store import open_store

    return open_store(settings.resolved_store_url())


def cmd_ingest(args: argparse.Namespace, settings: Any) -> int:
    from rich.console import Console
    from rich.table import Table

    from shopsense.errors import DataError
    from shopsense.ingest.loader import ingest_file
    from shopsense.ingest.pseudonym import Pseudonymizer

    if not args.items and not args.events:
        raise DataError("nothing to ingest", hint="pass --items FILE and/or --events FILE")
    store = _store(settings)
    pseudo = Pseudonymizer(settings.hmac_key())
    console = Console()
    table = Table(title=f"ingest into {store.url}")
    for col in ("file", "kind", "status", "rows", "accepted", "updated", "rejected (by reason)"):
        table.add_column(col)
    failed = 0
    # catalog first, so events can be checked against it
    for kind, files in (("items", args.items), ("events", args.events)):
        for f in files:
            try:
                r = ingest_file(store, f, kind, pseudonymizer=pseudo, config=settings.ingest, fmt=args.format)
            except DataError as e:
                console.print(f"[red]error:[/red] {e}")
                failed += 1
                continue
            rej = ", ".join(f"{k}={v}" for k, v in sorted(r.rejected.items())) or "0"
            table.add_row(f, kind, r.status, str(r.rows_seen), str(r.accepted), str(r.updated), rej)
            if r.ignored_columns:
                console.print(f"note: {f}: ignored columns {', '.join(r.ignored_columns)}")
    console.print(table)
    st = store.stats()
    console.print(f"store now holds {st['items']} items, {st['events']} events, {st['users']} users; "
                  f"{st['quarantine']} rows in quarantine (see `shopsense quarantine`)")
    if st["events_on_unknown_items"]:
        console.print(f"[yellow]warning:[/yellow] {st['events_on_unknown_items']} events refer to items not in the catalog")
    return 1 if failed else 0


def _date(ts: float | None) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M") if ts else "-"


def cmd_stats(args: argparse.Namespace, settings: Any) -> int:
    from rich.console import Console
    from rich.table import Table

    st = _store(settings).stats()
    c = Console()
    t = Table(title="shopsense store", show_header=False)
    t.add_row("items", str(st["items"]))
    t.add_row("events", str(st["events"]))
    t.add_row("users (pseudonymised)", str(st["users"]))
    t.add_row("quarantined rows", str(st["quarantine"]) + (f"  ({', '.join(f'{k}={v}' for k, v in st['quarantine_reasons'].items())})" if st["quarantine_reasons"] else ""))
    lo, hi = st["event_time_range"]
    t.add_row("events from .. to (UTC)", f"{_date(lo)} .. {_date(hi)}")
    pr = st["price_range"]
    if pr and pr[0] is not None:
        t.add_row("price range", f"{pr[0]:.2f} .. {pr[1]:.2f}")
    t.add_row("flagged events", str(st["flagged_events"]))
    t.add_row("events on unknown items", str(st["events_on_unknown_items"]))
    c.print(t)
    total = max(1, st["events"])
    mix = Table(title="event-type mix")
    mix.add_column("type")
    mix.add_column("events", justify="right")
    mix.add_column("share", justify="right")
    for k, v in st["event_types"].items():
        mix.add_row(k, str(v), f"{100 * v / total:.1f}%")
    c.print(mix)
    cats = Table(title="top categories (items)")
    cats.add_column("category")
    cats.add_column("items", justify="right")
    for k, v in st["top_categories"]:
        cats.add_row(k[:80], str(v))
    c.print(cats)
    return 0


def cmd_quarantine(args: argparse.Namespace, settings: Any) -> int:
    from rich.console import Console
    from rich.table import Table

    rows = _store(settings).quarantine_rows(args.reason, args.limit)
    t = Table(title="quarantine (rejected rows are kept here; fix the source and re-ingest)")
    for col in ("kind", "file", "line", "reason", "field", "detail"):
        t.add_column(col)
    for r in rows:
        t.add_row(r.kind, r.source, str(r.line), r.reason, r.field or "", r.detail)
    Console().print(t)
    return 0
