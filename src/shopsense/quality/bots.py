"""Bots, fraud and anomalies in the event log, scored per user and flagged per event.

Rules (each with a reason in words): impossible rates (events per minute, median gap between
events), click-without-view, identical item sequences shared by several users, and rating bursts
(shilling: many extreme ratings of one item in a short window). An IsolationForest (sklearn) over
per-user features gives a 0..1 anomaly score for what the rules miss. Flagged events are reported as
rows ``(event_row, detector, score, reason)``; the store keeps them and excludes them from training —
nothing is deleted.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from shopsense.errors import DataError
from shopsense.quality.config import BotConfig
from shopsense.types import EVENT_CODES, Dataset

FEATURES = ["n_events", "max_per_minute", "median_gap_s", "unique_item_ratio", "top_item_share",
            "click_without_view", "n_ratings", "extreme_rating_share", "shared_ngram_users",
            "mean_item_popularity", "buy_share"]


@dataclass
class BotResult:
    user_ids: list[str]
    features: dict[str, np.ndarray]
    iforest_score: np.ndarray  # 0..1 per user (0 when the forest is off)
    rules: list[list[str]]  # per user: reasons of the rules that fired
    flagged: np.ndarray  # bool per user
    score: np.ndarray  # combined 0..1 per user
    event_flags: list[tuple[int, str, float, str]] = field(default_factory=list)  # (event_row, detector, score, reason)

    @property
    def flagged_users(self) -> list[str]:
        return [u for u, f in zip(self.user_ids, self.flagged) if f]

    def event_mask(self, n_events: int) -> np.ndarray:
        """True for events flagged (to exclude from training)."""
        m = np.zeros(n_events, bool)
        if self.event_flags:
            m[np.fromiter((r for r, *_ in self.event_flags), np.int64)] = True
        return m

    def store_rows(self, dataset: Dataset) -> list[tuple[int, str, float, str]]:
        """Flags keyed by store event id (needs a dataset loaded from the store)."""
        if dataset.events.event_id is None:
            raise DataError("events carry no store ids", field="event_id",
                            hint="load the dataset with store.load_dataset() to flag events in the store")
        eid = dataset.events.event_id
        return [(int(eid[r]), d, s, why) for r, d, s, why in self.event_flags]


def user_features(ds: Dataset, cfg: BotConfig) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Per-user features. Returns (features, event order sorted by user/time, user bounds)."""
    ev = ds.events
    n_u = ds.n_users
    order = np.lexsort((ev.timestamp, ev.user))
    u, it, ty, ts, val = ev.user[order], ev.item[order], ev.type[order], ev.timestamp[order], ev.value[order]
    bounds = np.searchsorted(u, np.arange(n_u + 1))
    pop = np.bincount(it[it >= 0], minlength=ds.n_items).astype(np.float64)
    f = {k: np.zeros(n_u) for k in FEATURES}
    seq_users: dict[tuple, list[int]] = defaultdict(list)
    view, click, rating = EVENT_CODES["view"], EVENT_CODES["click"], EVENT_CODES["rating"]
    buys = np.array([EVENT_CODES["cart"], EVENT_CODES["purchase"]], np.int8)
    # hand-written loop over users: per-user sliding windows and sequence hashes have no vectorised
    # library equivalent; it is O(events) overall
    for x in range(n_u):
        a, b = bounds[x], bounds[x + 1]
        n = b - a
        f["n_events"][x] = n
        if n == 0:
            continue
        t = ts[a:b]
        its = it[a:b]
        f["max_per_minute"][x] = int(np.max(np.searchsorted(t, t + 60.0, side="left") - np.arange(n)))
        f["median_gap_s"][x] = float(np.median(np.diff(t))) if n > 1 else 86400.0
        valid = its[its >= 0]
        if len(valid):
            cnt = np.unique(valid, return_counts=True)[1]
            f["unique_item_ratio"][x] = len(cnt) / len(valid)
            f["top_item_share"][x] = cnt.max() / len(valid)
            f["mean_item_popularity"][x] = float(np.mean(np.log1p(pop[valid])))
        typ = ty[a:b]
        f["buy_share"][x] = float(np.isin(typ, buys).mean())  # bots browse and never buy
        clicks = np.flatnonzero(typ == click)
        if len(clicks):
            seen: set[int] = set()
            cwv = 0
            for k in range(n):
                if typ[k] == view:
                    seen.add(int(its[k]))
                elif typ[k] == click and int(its[k]) not in seen:
                    cwv += 1
            f["click_without_view"][x] = cwv / len(clicks)
        r = typ == rating
        if r.any():
            rv = val[a:b][r]
            f["n_ratings"][x] = int(r.sum())
            f["extreme_rating_share"][x] = float(np.mean((rv >= 4.5) | (rv <= 1.5)))
        if len(valid) >= cfg.repeat_min_len:
            dedup = valid[np.concatenate([[True], valid[1:] != valid[:-1]])]  # view+buy of one item = one step
            n_len = cfg.repeat_min_len
            for g in {tuple(dedup[k:k + n_len].tolist()) for k in range(len(dedup) - n_len + 1)}:
                seq_users[g].append(x)
    for users in seq_users.values():  # users sharing a run of >= repeat_min_len identical steps
        if len(users) > 1:
            f["shared_ngram_users"][users] = np.maximum(f["shared_ngram_users"][users], len(users))
    return f, order, bounds


def _rating_bursts(ds: Dataset, cfg: BotConfig) -> list[int]:
    """Event rows of extreme ratings that fall in a burst on one item."""
    ev = ds.events
    rows = np.flatnonzero((ev.type == EVENT_CODES["rating"]) & (ev.item >= 0) &
                          ((ev.value >= 4.5) | (ev.value <= 1.5)))
    if len(rows) == 0:
        return []
    rows = rows[np.lexsort((ev.timestamp[rows], ev.item[rows]))]
    out: list[int] = []
    items = ev.item[rows]
    for itm in np.unique(items):
        rr = rows[items == itm]
        t = ev.timestamp[rr]
        ends = np.searchsorted(t, t + cfg.burst_window_s, side="left")
        in_burst = np.zeros(len(rr), bool)
        for k in np.flatnonzero(ends - np.arange(len(rr)) >= cfg.burst_min_ratings):
            in_burst[k:ends[k]] = True
        out += rr[in_burst].tolist()
    return out


def detect_bots(ds: Dataset, config: BotConfig | None = None) -> BotResult:
    cfg = config or BotConfig()
    if len(ds.events) == 0:
        raise DataError("no events to check for bots", hint="ingest events first")
    f, order, bounds = user_features(ds, cfg)
    n_u = ds.n_users
    rules: list[list[str]] = [[] for _ in range(n_u)]
    for x in range(n_u):
        if f["max_per_minute"][x] > cfg.max_events_per_minute:
            rules[x].append(f"rate: {int(f['max_per_minute'][x])} events in one minute "
                            f"(> {cfg.max_events_per_minute:g})")
        elif f["n_events"][x] >= 5 and f["median_gap_s"][x] < cfg.min_median_gap_s:
            rules[x].append(f"rate: median gap {f['median_gap_s'][x]:.2f}s between events")
        ncl = f["click_without_view"][x]
        if ncl >= cfg.click_without_view_ratio and f["n_events"][x] >= cfg.click_without_view_min:
            rules[x].append(f"click-without-view: {ncl:.0%} of clicks had no view first")
        if f["shared_ngram_users"][x] >= cfg.repeat_min_users:
            rules[x].append(f"repeated sequence: a run of {cfg.repeat_min_len} identical steps shared by "
                            f"{int(f['shared_ngram_users'][x])} users")
    burst_rows = _rating_bursts(ds, cfg)
    burst_users = defaultdict(int)
    for r in burst_rows:
        burst_users[int(ds.events.user[r])] += 1
    for x, c in burst_users.items():
        rules[x].append(f"rating burst: {c} extreme ratings inside item bursts "
                        f"(>= {cfg.burst_min_ratings} per {cfg.burst_window_s:g}s)")
    ifs = np.zeros(n_u)
    active = f["n_events"] > 0
    if cfg.iforest and active.sum() >= 10:
        from sklearn.ensemble import IsolationForest
        X = np.column_stack([np.log1p(f[k]) for k in FEATURES])[active]
        X = (X - X.mean(0)) / (X.std(0) + 1e-9)
        forest = IsolationForest(n_estimators=200, random_state=cfg.seed).fit(X)
        ifs[active] = -forest.score_samples(X)  # the paper's s(x) in (0, 1]; ~0.5 normal, ->1 anomalous
    rule_hit = np.array([bool(r) for r in rules])
    forest_hit = ifs >= cfg.iforest_flag_score
    for x in np.flatnonzero(forest_hit & ~rule_hit):
        rules[x].append(f"isolation forest score {ifs[x]:.2f} >= {cfg.iforest_flag_score:g}")
    flagged = rule_hit | forest_hit
    score = np.maximum(ifs, rule_hit.astype(float))
    flags: list[tuple[int, str, float, str]] = []
    burst_set = set(burst_rows)
    for x in np.flatnonzero(flagged):
        only_burst = all(r.startswith("rating burst") for r in rules[x])
        why = "; ".join(rules[x])
        for r in order[bounds[x]:bounds[x + 1]]:
            if only_burst and int(r) not in burst_set:
                continue  # a shill-rating burst flags the burst ratings, not the user's other events
            det = "bots.rules" if rule_hit[x] else "bots.iforest"
            flags.append((int(r), det, round(float(score[x]), 4), why))
    return BotResult(list(ds.user_vocab.ids), f, ifs, rules, flagged, score, flags)
