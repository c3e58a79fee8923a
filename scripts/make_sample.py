"""Cut the bundled demo sample from ../shared/data/amazon-text (Amazon 2018 Industrial & Scientific).

Writes data/sample/items.csv and data/sample/events.csv: the first USERS users (in the dataset's
user order) with at least MIN_LEN interactions, every item they touched, and ~5% more catalog items
that nobody touched (so the demo shows cold-start items). Each history becomes purchase events in
their original order; the timestamps are synthesised (seeded), only the order is real.
Run: python scripts/make_sample.py
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

from shopsense.ingest.adapters import load_amazon_text

USERS = 2500
MIN_LEN = 5
OUT = Path(__file__).resolve().parents[1] / "data" / "sample"


def main() -> None:
    sd = load_amazon_text()
    ds = sd.dataset
    rng = random.Random(7)
    chosen = [u for u, s in enumerate(sd.sequences) if len(s) >= MIN_LEN][:USERS]
    used = sorted({int(i) for u in chosen for i in sd.sequences[u]})
    untouched = [i for i in range(ds.n_items) if i not in set(used)]
    extra = sorted(rng.sample(untouched, k=min(len(untouched), len(used) // 20)))
    OUT.mkdir(parents=True, exist_ok=True)
    with open(OUT / "items.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "title", "category", "brand"])
        for i in sorted(used + extra):
            it = ds.items[i]
            w.writerow([it.item_id, it.title, " > ".join(it.category), it.brand])
    start = dt.datetime(2018, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    n = 0
    with open(OUT / "events.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "item_id", "type", "timestamp"])
        for u in chosen:
            t = start + rng.uniform(0, 365) * 86400
            for i in sd.sequences[u]:
                t += rng.uniform(0.5, 30) * 86400
                w.writerow([ds.user_vocab.ids[u], ds.items[int(i)].item_id, "purchase",
                            dt.datetime.fromtimestamp(round(t), dt.timezone.utc).isoformat().replace("+00:00", "Z")])
                n += 1
    print(f"{len(used)} items with events + {len(extra)} without; {len(chosen)} users; {n} events -> {OUT}")


if __name__ == "__main__":
    main()
