"""Category intent: a probability over category paths for a query, used as a soft boost.

Two sources, blended: (1) encoder similarity between the query and each category path's name
(softmax with a temperature), (2) click/purchase logs — the categories of items shoppers clicked
or bought after the same normalised query — when present.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

import numpy as np

from shopsense.text.normalize import normalize

if TYPE_CHECKING:  # pragma: no cover
    from shopsense.types import Dataset

#: how much one logged event of each kind says about a query's category
LOG_WEIGHTS = {"click": 1.0, "cart": 2.0, "purchase": 3.0}
#: a click / cart / purchase this soon after the same shopper's search is taken to follow from it
SESSION_WINDOW_S = 1800.0
#: shoppers whose last search a live server remembers, waiting for what they take next (oldest forgotten first)
MAX_PENDING_SEARCHES = 100_000


class CategoryIntent:
    def __init__(self, paths: list[str], path_vectors: np.ndarray | None, temperature: float = 0.05,
                 log_weight: float = 0.5) -> None:
        self.paths = paths
        self.vectors = path_vectors
        self.temperature = temperature
        self.log_weight = log_weight
        # query -> {category code: weight}. Written copy-on-write under `_lock` (a live server feeds it from
        # POST /events and the sync thread while searches read it without a lock): a published inner dict is
        # never changed, so a reader sees one query's counts either before or after an update, never halfway.
        self.log_counts: dict[str, dict[int, float]] = {}
        self._lock = threading.Lock()
        self._searches: OrderedDict[str, tuple[str, float]] = OrderedDict()  # shopper -> last live search, time

    @classmethod
    def build(cls, paths: list[str], encoder, **kw) -> "CategoryIntent":
        vec = encoder.encode([p.replace(" > ", ", ") for p in paths]) if paths else None
        return cls(paths, vec, **kw)

    def add_logs(self, pairs: Iterable[tuple[str, int, float]]) -> None:
        """(query, category code, weight) triples from click (1) / cart / purchase (e.g. 3) events."""
        with self._lock:
            for q, add in _counts(pairs).items():
                d = dict(self.log_counts.get(q, {}))
                for code, w in add.items():
                    d[code] = d.get(code, 0.0) + w
                self.log_counts[q] = d

    def replace_logs(self, pairs: Iterable[tuple[str, int, float]]) -> None:
        """Forget every logged count and learn `pairs` instead (a rebuild from the whole event log)."""
        counts = _counts(pairs)
        with self._lock:
            self.log_counts = counts

    def add_rows(self, rows: Iterable[tuple[str, str | None, str | None, str, float]],
                 category_of: Callable[[str | None], int]) -> int:
        """Learn from (user, query, item id, event type, time) rows of live events, in time order, by the rules of
        `query_log_pairs`: a click / cart / purchase counts for the query it carries, or else for the same
        shopper's `search` shortly before it. `category_of(item_id)` is the item's category code (-1: none).
        Returns how many takes were learned from."""
        pairs = []
        for user, q, item, t, ts in rows:
            if t == "search":
                if q:
                    self.remember_search(user, q, ts)
            elif t in LOG_WEIGHTS:
                prior = self.pop_search(user, ts)  # a take ends its shopper's search session either way
                q = q or prior
                code = category_of(item) if q else -1  # most posted takes follow no search: no lookup
                if code >= 0:
                    pairs.append((q, code, LOG_WEIGHTS[t]))
        self.add_logs(pairs)
        return len(pairs)

    def remember_search(self, user: str, query: str, ts: float) -> None:
        """A shopper's live search: what they click, cart or buy next (within `SESSION_WINDOW_S`) follows it."""
        with self._lock:
            self._searches[user] = (query, ts)
            self._searches.move_to_end(user)
            while len(self._searches) > MAX_PENDING_SEARCHES:
                self._searches.popitem(last=False)

    def pop_search(self, user: str, ts: float | None = None) -> str | None:
        """The query of `user`'s last live search if it was at most `SESSION_WINDOW_S` before `ts`, and forget
        it (one take per search, as in `query_log_pairs`); `ts=None` only forgets (a shopper erased)."""
        with self._lock:
            hit = self._searches.pop(user, None)
        return hit[0] if hit is not None and ts is not None and ts - hit[1] <= SESSION_WINDOW_S else None

    def snapshot(self) -> dict[str, dict[int, float]]:
        with self._lock:
            return dict(self.log_counts)

    def predict(self, query_text: str, query_vec: np.ndarray | None) -> np.ndarray:
        """Probability per category code (sums to 1), zeros when there is nothing to go on."""
        n = len(self.paths)
        p = np.zeros(n)
        if n == 0:
            return p
        if self.vectors is not None and query_vec is not None:
            s = self.vectors @ np.asarray(query_vec, np.float32).reshape(-1)
            e = np.exp((s - s.max()) / self.temperature)
            p = e / e.sum()
        logs = self.log_counts.get(normalize(query_text))
        if logs:
            lp = np.zeros(n)
            for c, w in logs.items():
                if c < n:
                    lp[c] += w
            lp /= lp.sum()
            p = lp if not p.any() else (1 - self.log_weight) * p + self.log_weight * lp
        return p

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.vectors is not None:
            np.save(folder / "path_vectors.npy", self.vectors)
        tmp = folder / "intent.json.tmp"  # then renamed: `shopsense index` rewrites it beside a live index
        tmp.write_text(json.dumps({
            "paths": self.paths, "temperature": self.temperature, "log_weight": self.log_weight,
            "log_counts": {q: {str(c): w for c, w in d.items()} for q, d in self.snapshot().items()}}))
        tmp.replace(folder / "intent.json")

    @classmethod
    def load(cls, folder: str | Path) -> "CategoryIntent":
        folder = Path(folder)
        meta = json.loads((folder / "intent.json").read_text())
        vp = folder / "path_vectors.npy"
        ci = cls(meta["paths"], np.load(vp) if vp.exists() else None, meta["temperature"], meta["log_weight"])
        ci.log_counts = {q: {int(c): w for c, w in d.items()} for q, d in meta["log_counts"].items()}
        return ci


def _counts(pairs: Iterable[tuple[str, int, float]]) -> dict[str, dict[int, float]]:
    """{normalised query: {category code: summed weight}}; pairs without a category (-1) are skipped."""
    out: dict[str, dict[int, float]] = {}
    for q, code, w in pairs:
        if code >= 0:
            d = out.setdefault(normalize(q), {})
            d[code] = d.get(code, 0.0) + w
    return out


def query_log_pairs(dataset: "Dataset", category_of: Callable[[str | None], int],
                    window: float = SESSION_WINDOW_S) -> list[tuple[str, int, float]]:
    """(query, category code, weight) for `CategoryIntent.add_logs` from the two ways a shop logs what
    followed a search: a click / cart / purchase that carries its query (`Events.query`), and a `search`
    event followed by the same shopper's next click / cart / purchase within `window` seconds (the session
    rule the learned ranker's search groups use, `rank.search_train`). `category_of(item_id)` is the
    item's category code in the search index (-1: not indexed, or no category)."""
    from shopsense.types import EVENT_CODES

    ev = dataset.events
    if not ev.query:
        return []
    weight = {EVENT_CODES[k]: w for k, w in LOG_WEIGHTS.items()}
    search = EVENT_CODES["search"]
    ids = dataset.item_vocab.ids
    out = []

    def take(q: str, item: int, w: float) -> None:
        code = category_of(ids[item]) if item >= 0 else -1
        if code >= 0:
            out.append((q, code, w))

    has_q = [i for i, q in enumerate(ev.query) if q]
    for i in has_q:
        w = weight.get(int(ev.type[i]))
        if w is not None:
            take(ev.query[i], int(ev.item[i]), w)
    searchers = {int(ev.user[i]) for i in has_q if ev.type[i] == search}
    if searchers:  # sessions: only the events of shoppers who searched, in time order
        idx = np.flatnonzero(np.isin(ev.user, np.fromiter(searchers, np.int64)))
        pending: dict[int, tuple[str, float]] = {}  # shopper -> (last search's query, its time)
        for i in idx[np.argsort(ev.timestamp[idx], kind="stable")].tolist():
            user, t, ts = int(ev.user[i]), int(ev.type[i]), float(ev.timestamp[i])
            if t == search and ev.query[i]:
                pending[user] = (ev.query[i], ts)
            elif t in weight and user in pending:
                q, t0 = pending.pop(user)
                if ts - t0 <= window and not ev.query[i]:  # a take that names its query was counted above
                    take(q, int(ev.item[i]), weight[t])
    return out
