"""Search query groups for the learned ranker, from logged search sessions.

A logged search (an event of type ``search`` with its query) followed by the same shopper's click,
add-to-cart or purchase within `window` seconds is one LambdaMART query group: the candidates are what
the search engine returns for the query, the label is the item the shopper took, and the features
are computed with the shopper's profile as it stood *before* the search (events are replayed in time
order, the snapshot is taken at the search), so the click itself never leaks into its own features.

The same LightGBM model is then trained on recommendation groups and these search groups together, and
`ServingEngine.search` re-ranks results with it when it saw enough search groups; without search logs
personalised search keeps the rule-based blend (search score + profile affinities).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from shopsense.rank.features import FEATURES, FeatureContext, featurize, merge
from shopsense.rank.profile import ProfileBook
from shopsense.search.intent import SESSION_WINDOW_S
from shopsense.types import EVENT_CODES, EVENT_NAMES, Dataset

TAKE = {EVENT_CODES["click"], EVENT_CODES["cart"], EVENT_CODES["purchase"]}


def search_sessions(dataset: Dataset, weights: dict[str, float], recent: int, lookup: Any,
                    window: float = SESSION_WINDOW_S) -> list[tuple[str, str, str, Any]]:
    """(user key, query, taken item id, profile before the search) per search followed by a take."""
    ev = dataset.events
    if not ev.query or not (ev.type == EVENT_CODES["search"]).any():
        return []
    order = np.argsort(ev.timestamp, kind="stable")
    uids, iids = dataset.user_vocab.ids, dataset.item_vocab.ids
    book = ProfileBook(weights, recent)
    pending: dict[str, tuple[str, float, Any]] = {}  # user -> (query, time, profile snapshot)
    out = []
    for i in order.tolist():
        user, etype, ts = uids[int(ev.user[i])], int(ev.type[i]), float(ev.timestamp[i])
        item = iids[int(ev.item[i])] if ev.item[i] >= 0 else None
        if etype == EVENT_CODES["search"] and ev.query[i]:
            pending[user] = (ev.query[i], ts, book.get(user))
        elif etype in TAKE and item is not None and user in pending:
            query, t0, prof = pending[user]
            if ts - t0 <= window:
                out.append((user, query, item, prof))
            del pending[user]
        book.apply([(user, item, EVENT_NAMES[etype], ts)], lookup, live=False)
    return out


def search_groups(settings: Any, dataset: Dataset, search_engine: Any, popularity: dict[str, float],
                  items: dict[str, Any]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(user key, features, labels) per logged search session; candidates from the search engine."""
    rc = settings.rank
    out = []
    for user, query, target, prof in search_sessions(dataset, rc.event_weights, rc.profile_recent, items.get):
        try:
            hits = search_engine.search(query, k=rc.search_candidates).items
        except Exception:  # noqa: BLE001 - a query the engine rejects (e.g. empty after cleaning) is no group
            continue
        cands = merge({"search": hits})
        if not cands:
            continue
        X = featurize(cands, FeatureContext(items, popularity, prof))
        out.append((user, X, np.array([c.item_id == target for c in cands], dtype=np.float64)))
    return out


def blend_scores(X: np.ndarray, weight: float) -> np.ndarray:
    """The rule-based personalised search score (what `ServingEngine.search` uses without a learned
    search ranker): the engine's relevance, normalised, moved by category and brand affinity."""
    from shopsense.rank.rules import normalise

    s = np.nan_to_num(X[:, FEATURES.index("search_score")])
    return normalise(s) + weight * (np.nan_to_num(X[:, FEATURES.index("cat_affinity")]) +
                                    0.5 * np.nan_to_num(X[:, FEATURES.index("brand_affinity")]))
