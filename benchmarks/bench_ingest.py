"""Ingest throughput and peak memory: shopsense `ingest_file` vs pandas `read_csv` + `to_sql`.

Both load the same generated events CSV (N rows, ~0.5% bad rows) into a fresh SQLite file, each in
its own subprocess so peak RSS is measured per contender. shopsense also validates every row,
pseudonymises user ids, quarantines bad rows and de-duplicates; pandas does none of that.

    python benchmarks/bench_ingest.py            # 1,000,000 events
    python benchmarks/bench_ingest.py --n 200000
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TYPES = ["view"] * 70 + ["click"] * 15 + ["cart"] * 8 + ["purchase"] * 5 + ["search"] * 2


def make_events(path: Path, n: int, seed: int = 0) -> int:
    rng = random.Random(seed)
    bad = 0
    t = 1_700_000_000
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "item_id", "type", "value", "query", "timestamp", "session_id"])
        for k in range(n):
            t += rng.randint(0, 3)
            u = f"user-{rng.randint(1, 50_000)}"
            typ = rng.choice(TYPES)
            item = "" if typ == "search" else f"SKU{rng.randint(1, 20_000):06d}"
            q = "red running shoes" if typ == "search" else ""
            ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
            if k % 200 == 199:  # 0.5% broken rows of various kinds
                bad += 1
                ts, typ = rng.choice([("not a time", typ), (ts, "teleport")])
            w.writerow([u, item, typ, "", q, ts, f"s{u}-{t // 1800}"])
    return bad


def run_shopsense(csv_path: str, db: str) -> dict:
    from shopsense.ingest.config import IngestConfig
    from shopsense.ingest.loader import ingest_file
    from shopsense.ingest.pseudonym import Pseudonymizer
    from shopsense.store import open_store

    store = open_store(f"sqlite:///{db}")
    t = time.perf_counter()
    r = ingest_file(store, csv_path, "events", pseudonymizer=Pseudonymizer(b"bench-key-0123456789abcdef"),
                    config=IngestConfig(progress=False))
    dt = time.perf_counter() - t
    return {"seconds": dt, "stored": store.count("events"), "quarantined": store.count("quarantine"), "rows": r.rows_seen}


def run_pandas(csv_path: str, db: str) -> dict:
    import sqlite3

    import pandas as pd

    t = time.perf_counter()
    df = pd.read_csv(csv_path)
    con = sqlite3.connect(db)
    df.to_sql("events", con, index=False)
    con.commit()
    dt = time.perf_counter() - t
    return {"seconds": dt, "stored": int(con.execute("SELECT COUNT(*) FROM events").fetchone()[0]),
            "quarantined": 0, "rows": len(df)}


def child(which: str, csv_path: str, db: str) -> None:
    import resource

    out = (run_shopsense if which == "shopsense" else run_pandas)(csv_path, db)
    # shopsense validates big files in a worker process: count its peak too (self + children is an
    # upper bound of what both held at once)
    out["peak_rss_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                          + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each contender, alternating on the same file; medians reported (timings on a "
                         "shared VM drift by tens of percent between minutes)")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        child(*a.child)
        return
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "events.csv"
        t = time.perf_counter()
        bad = make_events(src, a.n)
        print(f"generated {a.n:,} events ({bad:,} broken, {src.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f}s")
        runs: dict[str, list[dict]] = {"pandas": [], "shopsense": []}
        for _ in range(a.repeat):
            for which in ("pandas", "shopsense"):
                db = Path(d) / f"{which}.db"
                for suffix in ("", "-wal", "-shm"):
                    Path(str(db) + suffix).unlink(missing_ok=True)
                p = subprocess.run([sys.executable, __file__, "--child", which, str(src), str(db)],
                                   capture_output=True, text=True)
                if p.returncode:
                    sys.exit(p.stderr)
                runs[which].append(json.loads(p.stdout.strip().splitlines()[-1]))
    res = {w: {**sorted(rs, key=lambda r: r["seconds"])[len(rs) // 2], "all_seconds": [round(r["seconds"], 2) for r in rs],
               "peak_rss_mb": max(r["peak_rss_mb"] for r in rs)} for w, rs in runs.items()}
    base = res["pandas"]
    print(f"\nmachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"median of {a.repeat} alternating runs each")
    print(f"{'contender':<34}{'seconds':>9}{'events/s':>12}{'peak RSS MB':>13}{'stored':>10}{'quarantined':>12}{'speed vs pandas':>17}")
    for name, label in (("pandas", "pandas read_csv + to_sql"), ("shopsense", "shopsense ingest (validated)")):
        r = res[name]
        print(f"{label:<34}{r['seconds']:>9.1f}{r['rows'] / r['seconds']:>12,.0f}{r['peak_rss_mb']:>13.0f}"
              f"{r['stored']:>10,}{r['quarantined']:>12,}{base['seconds'] / r['seconds']:>16.2f}x  runs {r['all_seconds']}")
    ratios = [p / s_ for p, s_ in zip(res["pandas"]["all_seconds"], res["shopsense"]["all_seconds"])]
    print(f"speed vs pandas per alternating pair: {[round(x, 2) for x in ratios]}")


if __name__ == "__main__":
    main()
