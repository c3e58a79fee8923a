"""Recommendation NDCG@10 with vs. without bot filtering, after injecting a known bot population.

Data: Amazon Beauty (S3-Rec files), leave-one-out: each real user's last item is the test target,
everything before it is training. The files carry no clock, so real users' times are synthesised
(per user a random start; 30% of steps inside a session, ~2 min apart, the rest ~days apart; each
purchase preceded by a view of the item a few seconds to minutes earlier).

Injected bots (BOT_FRACTION of the real users) promote a handful of long-tail items by pairing them
with popular items, in three kinds:
  burst   — dozens of views/clicks seconds apart (impossible rate);
  replay  — human-speed, every bot of a ring replays one scripted sequence (half exactly, half with
            one random item inserted so that only the forest can catch them);
  clicker — human-speed clicks without views;
  stealth — human-speed views of promoted + popular items, no replay, no clicks: no rule fires, only
            the IsolationForest's per-user features can catch them.
Recommender (written here on purpose, to depend on nothing under development): item-to-item
co-occurrence within a window of 3 steps over the training sequences, scored from the user's last 3
items, popularity back-fill; the user's history is excluded; full ranking over all items.
Three runs in one process: clean (no bots), poisoned (bots, no filter), filtered (bots, events flagged
by `detect_bots` excluded). Detector precision/recall are on the injected users.

Run: .venv/bin/python benchmarks/bench_quality_bots.py
"""
from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np
from scipy import sparse

from shopsense.evaluate.metrics import ndcg_single_target_at_k  # noqa: F401  (same metric; computed vectorised below)
from shopsense.ingest.adapters import load_amazon_seq
from shopsense.quality.bots import detect_bots
from shopsense.quality.config import BotConfig
from shopsense.types import EVENT_CODES, Dataset, Events, Vocabulary

OUT = Path(__file__).parent / "out"
BOT_FRACTION = 0.05
N_PROMOTED = 5
SEED = 0


def real_events(train: list[np.ndarray], rng: np.random.Generator):
    cols = {k: [] for k in ("user", "item", "type", "ts")}
    for u, seq in enumerate(train):
        t = 1.5e9 + rng.uniform(0, 3.0e7)
        for it in seq:
            t += rng.lognormal(np.log(120), 0.8) if rng.random() < 0.3 else rng.lognormal(np.log(3 * 86400), 1.0)
            tv = t - rng.uniform(5, 600)
            cols["user"] += [u, u]
            cols["item"] += [int(it), int(it)]
            cols["type"] += [EVENT_CODES["view"], EVENT_CODES["purchase"]]
            cols["ts"] += [tv, t]
    return cols


def bot_events(n_real: int, n_bots: int, popular: np.ndarray, promoted: np.ndarray, rng: np.random.Generator):
    cols = {k: [] for k in ("user", "item", "type", "ts")}
    kinds = []
    scripts = [rng.permutation(np.concatenate([rng.choice(popular, 10, replace=False), promoted]))
               for _ in range(4)]
    for b in range(n_bots):
        u = n_real + b
        kind = ["burst", "replay", "clicker", "stealth"][b % 4]
        kinds.append(kind)
        t = 1.5e9 + rng.uniform(0, 3.0e7)
        if kind == "burst":
            seq = np.concatenate([[p, q] for p, q in zip(rng.choice(promoted, 30), rng.choice(popular, 30))])
            gaps = rng.uniform(0.3, 3.0, len(seq))
            types = rng.choice([EVENT_CODES["view"], EVENT_CODES["click"]], len(seq))
        elif kind == "replay":
            seq = scripts[b % len(scripts)].copy()
            if (b // 4) % 2:
                seq = np.insert(seq, rng.integers(0, len(seq)), rng.choice(popular))
            gaps = rng.lognormal(np.log(90), 0.5, len(seq))
            types = np.full(len(seq), EVENT_CODES["view"])
        elif kind == "clicker":
            seq = np.concatenate([[p, q] for p, q in zip(rng.choice(promoted, 8), rng.choice(popular, 8))])
            gaps = rng.lognormal(np.log(60), 0.7, len(seq))
            types = np.full(len(seq), EVENT_CODES["click"])
        else:
            m = int(rng.integers(3, 7))
            seq = np.concatenate([[p, q] for p, q in zip(rng.choice(promoted, m), rng.choice(popular, m))])
            gaps = np.where(rng.random(len(seq)) < 0.3, rng.lognormal(np.log(120), 0.8, len(seq)),
                            rng.lognormal(np.log(86400), 1.0, len(seq)))
            types = np.full(len(seq), EVENT_CODES["view"])
        ts = t + np.cumsum(gaps)
        cols["user"] += [u] * len(seq)
        cols["item"] += [int(x) for x in seq]
        cols["type"] += [int(x) for x in types]
        cols["ts"] += ts.tolist()
    return cols, kinds


def to_dataset(items, cols, n_users) -> Dataset:
    n = len(cols["user"])
    ev = Events(np.asarray(cols["user"], np.int64), np.asarray(cols["item"], np.int64),
                np.asarray(cols["type"], np.int8), np.full(n, np.nan, np.float32),
                np.asarray(cols["ts"], np.float64), np.full(n, -1, np.int64), [])
    return Dataset(items, ev, Vocabulary(i.item_id for i in items), Vocabulary(str(u) for u in range(n_users)))


def cooc_model(ds: Dataset, mask: np.ndarray | None, window: int = 3):
    """Item-item co-occurrence within `window` steps of each user's (deduplicated) item sequence."""
    if mask is not None:
        ds = Dataset(ds.items, ds.events.subset(~mask), ds.item_vocab, ds.user_vocab)
    rows, cols = [], []
    pop = np.zeros(ds.n_items)
    for s in ds.user_sequences():
        if len(s) == 0:
            continue
        keep = np.concatenate([[True], s[1:] != s[:-1]])  # view+purchase of one item count once
        s = s[keep]
        np.add.at(pop, s, 1)
        for d in range(1, window + 1):
            rows += [s[:-d], s[d:]]
            cols += [s[d:], s[:-d]]
    r, c = np.concatenate(rows), np.concatenate(cols)
    C = sparse.csr_matrix((np.ones(len(r)), (r, c)), shape=(ds.n_items, ds.n_items))
    return C, pop


def evaluate(C, pop, train: list[np.ndarray], test: np.ndarray, k: int = 10, promoted=None) -> dict:
    popn = pop / pop.max()
    ndcg = hit = prom = 0.0
    for u, seq in enumerate(train):
        last = seq[-3:][::-1]
        sc = np.zeros(C.shape[0])
        for w, it in zip((1.0, 0.5, 0.25), last):
            row = C.getrow(int(it))
            sc[row.indices] += w * row.data / (1.0 + row.data.sum()) ** 0.5
        sc += 1e-3 * popn
        sc[seq] = -np.inf
        top = np.argpartition(-sc, k)[:k]
        top = top[np.argsort(-sc[top])]
        pos = np.flatnonzero(top == test[u])
        if len(pos):
            hit += 1
            ndcg += 1.0 / np.log2(pos[0] + 2)
        if promoted is not None:
            prom += np.isin(top, promoted).sum() / k
    n = len(train)
    return {"NDCG@10": ndcg / n, "HR@10": hit / n, "promoted_share_of_top10": prom / n}


def main() -> None:
    rng = np.random.default_rng(SEED)
    t0 = time.time()
    sd = load_amazon_seq("Beauty")
    items = sd.dataset.items
    train = [s[:-1] for s in sd.sequences]
    test = np.array([s[-1] for s in sd.sequences])
    n_real = len(train)
    counts = np.bincount(np.concatenate(train), minlength=len(items))
    popular = np.argsort(-counts)[:50]
    tail = np.flatnonzero((counts >= 2) & (counts <= 5))
    promoted = rng.choice(tail, N_PROMOTED, replace=False)
    rc = real_events(train, rng)
    n_bots = int(BOT_FRACTION * n_real)
    bc, kinds = bot_events(n_real, n_bots, popular, promoted, rng)
    clean = to_dataset(items, rc, n_real)
    both = {k: rc[k] + bc[k] for k in rc}
    poisoned = to_dataset(items, both, n_real + n_bots)
    is_bot_event = np.asarray(both["user"]) >= n_real
    res: dict = {"bench": "quality_bots", "dataset": "amazon-seq Beauty (LOO)", "real_users": n_real,
                 "bots": n_bots, "bot_kinds": {k: kinds.count(k) for k in set(kinds)},
                 "events_real": len(rc["user"]), "events_bot": len(bc["user"]), "promoted": promoted.tolist()}
    runs = {}
    C, pop = cooc_model(clean, None)
    runs["clean (no bots)"] = evaluate(C, pop, train, test, promoted=promoted)
    C, pop = cooc_model(poisoned, None)
    runs["poisoned, no filter"] = evaluate(C, pop, train, test, promoted=promoted)
    for name, cfg in [("poisoned, filtered (rules only)", BotConfig(iforest=False)),
                      ("poisoned, filtered (rules + forest >= 0.75)", BotConfig(iforest_flag_score=0.75)),
                      ("poisoned, filtered (rules + forest >= 0.65, default)", BotConfig()),
                      ("poisoned, filtered (rules + forest >= 0.60)", BotConfig(iforest_flag_score=0.60))]:
        t = time.time()
        det = detect_bots(poisoned, cfg)
        secs = time.time() - t
        flagged_u = det.flagged
        is_bot_u = np.arange(len(flagged_u)) >= n_real
        tp = int((flagged_u & is_bot_u).sum())
        mask = det.event_mask(len(poisoned.events))
        etp = int((mask & is_bot_event).sum())
        per_kind = {k: float(np.mean([flagged_u[n_real + i] for i, kk in enumerate(kinds) if kk == k]))
                    for k in ("burst", "replay", "clicker", "stealth")}
        C, pop = cooc_model(poisoned, mask)
        runs[name] = {**evaluate(C, pop, train, test, promoted=promoted),
                      "user_precision": tp / max(1, flagged_u.sum()), "user_recall": tp / n_bots,
                      "real_users_flagged": int((flagged_u & ~is_bot_u).sum()),
                      "event_precision": etp / max(1, mask.sum()), "event_recall": etp / is_bot_event.sum(),
                      "recall_by_kind": per_kind, "detector_seconds": round(secs, 1)}
        print(name, json.dumps(runs[name]))
    res["runs"] = runs
    res["seconds_total"] = round(time.time() - t0, 1)
    res["machine"] = f"{platform.node()} {platform.machine()}, {__import__('os').cpu_count()} cores (shared)"
    res["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(json.dumps(res, indent=1))
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_quality_bots.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
