"""Train the LambdaMART ranker from logged events, and measure it against the rule-based ranker.

Protocol (no leakage): each user's last item event is held out; every source is fitted on the rest;
profiles are replayed from the rest. For a `train_share` of users (random, seeded) the held-out item
labels that user's candidates (a query group) to train LightGBM; the other users measure NDCG@10 of
the candidate ranking with the ranker on (LightGBM) vs off (rule-based). Candidates that miss the
held-out item count as 0 for both, so `recall` (the candidate ceiling) is reported too.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from shopsense.rank.engine import ServingEngine
from shopsense.rank.features import FeatureContext, featurize
from shopsense.rank.profile import ProfileBook
from shopsense.rank.ranker import LGBMRanker
from shopsense.rank.sources import Sources
from shopsense.types import Dataset


def holdout_last(dataset: Dataset) -> tuple[Dataset, dict[int, int]]:
    """(dataset without each user's last item event, {user row: held-out item row}); users with < 2
    item events keep everything."""
    ev = dataset.events
    idx = np.flatnonzero(ev.item >= 0)
    order = idx[np.lexsort((ev.timestamp[idx], ev.user[idx]))]
    users = ev.user[order]
    last = np.flatnonzero(np.r_[users[1:] != users[:-1], True])
    first = np.r_[0, last[:-1] + 1]
    held: dict[int, int] = {}
    drop = np.zeros(len(ev), bool)
    for f, l in zip(first, last):
        if l > f:
            e = order[l]
            held[int(ev.user[e])] = int(ev.item[e])
            drop[e] = True
    fit = Dataset(dataset.items, ev.subset(~drop), dataset.item_vocab, dataset.user_vocab,
                  dataset.session_vocab, dataset.name + "-fit")
    return fit, held


def ndcg10(scores: np.ndarray, y: np.ndarray) -> float:
    if not y.any():
        return 0.0
    order = np.argsort(-scores, kind="stable")[:10]
    hits = np.flatnonzero(y[order])
    return float(1.0 / np.log2(hits[0] + 2)) if len(hits) else 0.0


def make_queries(settings: Any, fit: Dataset, held: dict[int, int], models: dict[str, Any],
                 users: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    from shopsense.rank.build import popularity

    items = {it.item_id: it for it in fit.items}
    eng = ServingEngine(items, Sources(models, None, items), settings.rank, popularity(fit))
    book = ProfileBook(settings.rank.event_weights, settings.rank.profile_recent)
    book.load_dataset(fit, items.get)
    uids, iids = fit.user_vocab.ids, fit.item_vocab.ids
    out = []
    for u in users:
        key, target = uids[u], iids[held[u]]
        prof = book.get(key)
        cands = eng.rec_candidates(key, prof)
        if not cands:
            continue
        X = featurize(cands, FeatureContext(items, eng.popularity, prof))
        y = np.array([c.item_id == target for c in cands], dtype=np.float64)
        out.append((X, y))
    return out


def train_ranker(settings: Any, dataset: Dataset, encoder=None,
                 search: Any = None) -> tuple[LGBMRanker | None, dict[str, Any]]:
    """With a search engine, logged search sessions add query groups (see rank.search_train), so the
    same model also re-ranks personalised search."""
    from shopsense.rank.build import fit_sources, popularity
    from shopsense.rank.ranker import RuleRanker

    cfg = settings.rank.lgbm
    t0 = time.perf_counter()
    fit, held = holdout_last(dataset)
    report: dict[str, Any] = {"users_with_holdout": len(held)}
    if len(held) < cfg.min_queries:
        report["skipped"] = f"only {len(held)} users with >= 2 item events (< {cfg.min_queries})"
        return None, report
    models = fit_sources(settings, fit, encoder, only=tuple(s for s in settings.rank.sources))
    rng = np.random.default_rng(cfg.seed)
    users = rng.permutation(sorted(held))[:cfg.max_users].tolist()
    n_train = int(len(users) * cfg.train_share)
    train_q = make_queries(settings, fit, held, models, users[:n_train])
    eval_q = make_queries(settings, fit, held, models, users[n_train:])
    pos = [(X, y) for X, y in train_q if y.any()]
    report.update(train_queries=len(pos), eval_queries=len(eval_q),
                  eval_recall=round(float(np.mean([y.any() for _, y in eval_q])) if eval_q else 0.0, 4))
    s_train, s_eval = _search_split(settings, fit, search, popularity(fit), rng, cfg.train_share, report)
    pos += s_train
    if len(pos) < cfg.min_queries:
        report["skipped"] = f"only {len(pos)} training queries contain the held-out item (< {cfg.min_queries})"
        return None, report
    X = np.vstack([q[0] for q in pos])
    y = np.concatenate([q[1] for q in pos])
    ranker = LGBMRanker.train(X, y, [len(q[1]) for q in pos], cfg)
    rules = RuleRanker(settings.rank.rule_weights)
    if eval_q:
        report["ndcg10_rules"] = round(float(np.mean([ndcg10(rules.score(X), y) for X, y in eval_q])), 4)
        report["ndcg10_lgbm"] = round(float(np.mean([ndcg10(ranker.score(X), y) for X, y in eval_q])), 4)
    if s_eval:
        from shopsense.rank.search_train import blend_scores

        w = settings.rank.search_personal_weight
        i_ss = ranker.meta["features"].index("search_score")
        for name, fn in (("engine", lambda X: np.nan_to_num(X[:, i_ss])), ("rules", lambda X: blend_scores(X, w)),
                         ("lgbm", ranker.score)):
            report[f"search_ndcg10_{name}"] = round(float(np.mean([ndcg10(fn(X), y) for X, y in s_eval])), 4)
    ranker.meta["search_groups"] = len(s_train)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    ranker.meta["report"] = report
    return ranker, report


def _search_split(settings: Any, fit: Dataset, search: Any, pop: dict[str, float], rng: np.random.Generator,
                  share: float, report: dict[str, Any]) -> tuple[list, list]:
    """Search groups from the logged search sessions, split by shopper into train (with the taken item
    among the candidates) and evaluation groups."""
    if search is None:
        return [], []
    from shopsense.rank.search_train import search_groups

    groups = search_groups(settings, fit, search, pop, {it.item_id: it for it in fit.items})
    users = sorted({u for u, _, _ in groups})
    train_users = set(rng.permutation(users)[: int(len(users) * share)].tolist()) if users else set()
    s_train = [(X, y) for u, X, y in groups if u in train_users and y.any()]
    s_eval = [(X, y) for u, X, y in groups if u not in train_users]
    report.update(search_train_queries=len(s_train), search_eval_queries=len(s_eval),
                  search_eval_recall=round(float(np.mean([y.any() for _, y in s_eval])), 4) if s_eval else 0.0)
    return s_train, s_eval
