"""User profiles: category / brand / price affinities and the recent-event session state.

Built from the store's events at start-up and updated in place by every posted event (under a lock),
so the next recommendation sees it without retraining. Keys are pseudonyms, never raw ids.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from shopsense.types import EVENT_NAMES, Item

ItemLookup = Callable[[str], "Item | None"]


@dataclass
class UserProfile:
    categories: dict[str, float] = field(default_factory=dict)
    brands: dict[str, float] = field(default_factory=dict)
    price_sum: float = 0.0
    price_sq: float = 0.0
    price_n: float = 0.0
    recent: deque = field(default_factory=lambda: deque(maxlen=50))  # (item_id, type, ts)
    purchased: set[str] = field(default_factory=set)
    n_events: int = 0
    live_events: int = 0  # events applied since the models were trained
    last_ts: float = 0.0

    def add(self, item: Item | None, item_id: str | None, etype: str, ts: float, w: float, live: bool) -> None:
        self.n_events += 1
        self.live_events += int(live)
        self.last_ts = max(self.last_ts, ts)
        if item_id is None:
            return
        self.recent.append((item_id, etype, ts))
        if etype == "purchase":
            self.purchased.add(item_id)
        if item is None or w <= 0:
            return
        if item.category:
            c = item.category_path
            self.categories[c] = self.categories.get(c, 0.0) + w
        if item.brand:
            self.brands[item.brand] = self.brands.get(item.brand, 0.0) + w
        if item.price is not None:
            self.price_sum += w * item.price
            self.price_sq += w * item.price * item.price
            self.price_n += w

    def copy(self) -> "UserProfile":
        return UserProfile(dict(self.categories), dict(self.brands), self.price_sum, self.price_sq, self.price_n,
                           deque(self.recent, maxlen=self.recent.maxlen), set(self.purchased), self.n_events,
                           self.live_events, self.last_ts)

    # -- features ------------------------------------------------------------------------------
    def cat_affinity(self, cat: str) -> float:
        tot = sum(self.categories.values())
        return self.categories.get(cat, 0.0) / tot if tot else 0.0

    def brand_affinity(self, brand: str) -> float:
        tot = sum(self.brands.values())
        return self.brands.get(brand, 0.0) / tot if tot else 0.0

    def price_stats(self) -> tuple[float, float] | None:
        if self.price_n <= 0:
            return None
        mean = self.price_sum / self.price_n
        var = max(self.price_sq / self.price_n - mean * mean, 0.0)
        return mean, math.sqrt(var)

    def recent_items(self, k: int) -> list[str]:
        """Distinct item ids, newest first."""
        out: list[str] = []
        for iid, _, _ in reversed(self.recent):
            if iid not in out:
                out.append(iid)
                if len(out) >= k:
                    break
        return out

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        def norm(d: dict[str, float]) -> dict[str, float]:
            tot = sum(d.values()) or 1.0
            return {k: round(v / tot, 4) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]}

        ps = self.price_stats()
        return {"n_events": self.n_events, "live_events": self.live_events, "last_event_ts": self.last_ts or None,
                "category_affinity": norm(self.categories), "brand_affinity": norm(self.brands),
                "price": {"mean": round(ps[0], 2), "std": round(ps[1], 2)} if ps else None,
                "recent": [{"item_id": i, "type": t, "timestamp": ts} for i, t, ts in list(self.recent)[-top:][::-1]],
                "purchased": len(self.purchased)}


class ProfileBook:
    """All profiles, thread-safe. Outlives model swaps (it is session state, not a model)."""

    def __init__(self, weights: dict[str, float], recent: int = 50) -> None:
        self.weights = dict(weights)
        self.recent = recent
        self.lock = threading.Lock()
        self._profiles: dict[str, UserProfile] = {}

    def __len__(self) -> int:
        return len(self._profiles)

    def get(self, user_key: str) -> UserProfile | None:
        """A snapshot (copied under the lock), so a request never iterates a profile an event is changing."""
        with self.lock:
            p = self._profiles.get(user_key)
            return p.copy() if p is not None else None

    def _new(self) -> UserProfile:
        p = UserProfile()
        p.recent = deque(maxlen=self.recent)
        return p

    def apply(self, rows: Iterable[tuple[str, str | None, str, float]], lookup: ItemLookup, live: bool = True) -> int:
        """rows: (user_key, item_id | None, type name, timestamp), in time order."""
        n = 0
        with self.lock:
            for user, item_id, etype, ts in rows:
                p = self._profiles.get(user)
                if p is None:
                    p = self._profiles[user] = self._new()
                item = lookup(item_id) if item_id else None
                p.add(item, item_id, etype, ts, self.weights.get(etype, 0.0), live)
                n += 1
        return n

    def load_dataset(self, dataset, lookup: ItemLookup) -> int:
        """Replay a Dataset's events (columnar) in time order."""
        import numpy as np

        ev = dataset.events
        order = np.argsort(ev.timestamp, kind="stable")
        uids, iids = dataset.user_vocab.ids, dataset.item_vocab.ids
        rows = ((uids[int(ev.user[i])], iids[int(ev.item[i])] if ev.item[i] >= 0 else None,
                 EVENT_NAMES[int(ev.type[i])], float(ev.timestamp[i])) for i in order)
        return self.apply(rows, lookup, live=False)

    def mark_trained(self) -> None:
        with self.lock:
            for p in self._profiles.values():
                p.live_events = 0

    def forget(self, user_key: str) -> bool:
        with self.lock:
            return self._profiles.pop(user_key, None) is not None
