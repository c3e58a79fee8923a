"""The typed values that pass between stages.

- `Item`, `Event`, `User`: one catalog row, one behaviour event, one (pseudonymised) shopper.
- `Dataset`: the columnar value every model is fitted on (items + events as numpy arrays, with
  id <-> row vocabularies), produced by `Store.load_dataset()` or by the dataset adapters.
- `ItemList`: what every retriever / recommender / ranker returns: ids, scores and per-item reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Iterable, Iterator, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class EventType(str, Enum):
    VIEW = "view"
    CLICK = "click"
    CART = "cart"
    PURCHASE = "purchase"
    RATING = "rating"
    SEARCH = "search"


#: Stable small-int codes used in columnar arrays and in the store.
EVENT_CODES: dict[str, int] = {t.value: i for i, t in enumerate(EventType)}
EVENT_NAMES: list[str] = [t.value for t in EventType]

#: Aliases accepted at ingest (common names in shop exports); anything else is rejected.
EVENT_ALIASES: dict[str, str] = {
    "view": "view", "pageview": "view", "page_view": "view", "detail": "view", "impression": "view",
    "click": "click",
    "cart": "cart", "add_to_cart": "cart", "addtocart": "cart", "add-to-cart": "cart",
    "purchase": "purchase", "buy": "purchase", "order": "purchase", "transaction": "purchase",
    "rating": "rating", "rate": "rating", "review": "rating",
    "search": "search", "query": "search",
}


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    item_id: str
    title: str
    description: str = ""
    category: list[str] = Field(default_factory=list, description="category path, root first")
    brand: str = ""
    price: float | None = None
    rating: float | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    stock: int | None = None

    @property
    def category_path(self) -> str:
        return " > ".join(self.category)


class Event(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(description="pseudonymised user key (never the raw id once stored)")
    item_id: str | None = None
    type: EventType
    value: float | None = None
    query: str | None = None
    timestamp: float = Field(description="seconds since the Unix epoch, UTC")
    session_id: str | None = None
    event_id: int | None = Field(None, description="64-bit id; derived from the content when absent")


class User(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str
    first_seen: float | None = None
    last_seen: float | None = None
    n_events: int = 0


class Vocabulary:
    """A bijection between external string ids and dense row numbers 0..n-1."""

    __slots__ = ("_ids", "_index")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._ids: list[str] = []
        self._index: dict[str, int] = {}
        for i in ids:
            self.add(i)

    def add(self, id_: str) -> int:
        row = self._index.get(id_)
        if row is None:
            row = len(self._ids)
            self._index[id_] = row
            self._ids.append(id_)
        return row

    def get(self, id_: str, default: int = -1) -> int:
        return self._index.get(id_, default)

    def __getitem__(self, id_: str) -> int:
        return self._index[id_]

    def __contains__(self, id_: object) -> bool:
        return id_ in self._index

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    @property
    def ids(self) -> list[str]:
        return self._ids

    def lookup(self, ids: Iterable[str]) -> np.ndarray:
        return np.fromiter((self._index.get(i, -1) for i in ids), dtype=np.int64)

    def to_json(self) -> list[str]:
        return list(self._ids)

    @classmethod
    def from_json(cls, ids: list[str]) -> "Vocabulary":
        return cls(ids)


@dataclass
class Events:
    """Columnar events: parallel numpy arrays, rows refer to `Dataset` vocabularies.

    `item` is -1 for events without an item (searches); `session` is -1 when unknown.
    """

    user: np.ndarray  # int64
    item: np.ndarray  # int64
    type: np.ndarray  # int8, see EVENT_CODES
    value: np.ndarray  # float32, NaN when absent
    timestamp: np.ndarray  # float64 epoch seconds
    session: np.ndarray  # int64
    query: list[str | None] = field(default_factory=list)
    #: store event ids (int64) when loaded from a store, so stages can flag events by id; else None
    event_id: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.user.shape[0])

    def subset(self, mask: np.ndarray) -> "Events":
        idx = np.flatnonzero(mask) if mask.dtype == bool else mask
        q = [self.query[i] for i in idx] if self.query else []
        eid = self.event_id[idx] if self.event_id is not None else None
        return Events(self.user[idx], self.item[idx], self.type[idx], self.value[idx],
                      self.timestamp[idx], self.session[idx], q, eid)

    @classmethod
    def empty(cls) -> "Events":
        z = np.zeros(0, dtype=np.int64)
        return cls(z, z.copy(), np.zeros(0, np.int8), np.zeros(0, np.float32), np.zeros(0), z.copy(), [])


@dataclass
class Dataset:
    """The one value models are fitted on: the catalog plus its events, columnar."""

    items: list[Item]
    events: Events
    item_vocab: Vocabulary
    user_vocab: Vocabulary
    session_vocab: Vocabulary = field(default_factory=Vocabulary)
    name: str = "dataset"

    def __post_init__(self) -> None:
        if len(self.items) != len(self.item_vocab):
            raise ValueError("items and item_vocab must have the same length and order")

    @property
    def n_items(self) -> int:
        return len(self.item_vocab)

    @property
    def n_users(self) -> int:
        return len(self.user_vocab)

    def item(self, item_id: str) -> Item:
        return self.items[self.item_vocab[item_id]]

    def user_sequences(self, types: Sequence[str] | None = None) -> list[np.ndarray]:
        """Per user (by row), the item rows of their events in time order."""
        ev = self.events
        mask = ev.item >= 0
        if types is not None:
            mask &= np.isin(ev.type, [EVENT_CODES[t] for t in types])
        u, it, ts = ev.user[mask], ev.item[mask], ev.timestamp[mask]
        order = np.lexsort((ts, u))
        u, it = u[order], it[order]
        bounds = np.searchsorted(u, np.arange(self.n_users + 1))
        return [it[bounds[i]:bounds[i + 1]] for i in range(self.n_users)]

    @classmethod
    def from_records(cls, items: Sequence[Item], events: Iterable[Event], name: str = "dataset") -> "Dataset":
        """Build a Dataset from typed records (tests, small data). Events on unknown items are kept
        out with a ValueError rather than silently dropped."""
        item_vocab = Vocabulary(i.item_id for i in items)
        user_vocab, sess_vocab = Vocabulary(), Vocabulary()
        cols: dict[str, list] = {k: [] for k in ("user", "item", "type", "value", "ts", "session", "query")}
        for e in events:
            if e.item_id is not None and e.item_id not in item_vocab:
                raise ValueError(f"event references unknown item {e.item_id!r}")
            cols["user"].append(user_vocab.add(e.user_id))
            cols["item"].append(item_vocab.get(e.item_id) if e.item_id is not None else -1)
            cols["type"].append(EVENT_CODES[EventType(e.type).value])
            cols["value"].append(np.nan if e.value is None else e.value)
            cols["ts"].append(e.timestamp)
            cols["session"].append(sess_vocab.add(e.session_id) if e.session_id else -1)
            cols["query"].append(e.query)
        ev = Events(np.asarray(cols["user"], np.int64), np.asarray(cols["item"], np.int64),
                    np.asarray(cols["type"], np.int8), np.asarray(cols["value"], np.float32),
                    np.asarray(cols["ts"], np.float64), np.asarray(cols["session"], np.int64),
                    cols["query"])
        return cls(list(items), ev, item_vocab, user_vocab, sess_vocab, name)


@dataclass
class ItemList:
    """Ranked item ids with scores and, per item, the reasons that put it there.

    A reason is a small dict, e.g. ``{"source": "bm25", "rank": 3, "matched": ["drill"]}`` or
    ``{"source": "similar", "because": "B00X"}``; `rank.explain` turns them into sentences.
    """

    ids: list[str]
    scores: np.ndarray
    reasons: list[list[dict[str, Any]]]

    def __post_init__(self) -> None:
        self.scores = np.asarray(self.scores, dtype=np.float64)
        if not (len(self.ids) == len(self.scores) == len(self.reasons)):
            raise ValueError("ItemList ids, scores and reasons must have the same length")

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[tuple[str, float, list[dict[str, Any]]]]:
        return iter(zip(self.ids, self.scores.tolist(), self.reasons))

    @classmethod
    def empty(cls) -> "ItemList":
        return cls([], np.zeros(0), [])

    @classmethod
    def from_scores(cls, ids: Sequence[str], scores: Sequence[float] | np.ndarray,
                    reason: dict[str, Any] | None = None, n: int | None = None) -> "ItemList":
        """Sort by descending score (stable: ties keep input order), keep the top `n`, and attach
        `reason` (plus the rank) to every item."""
        s = np.asarray(scores, dtype=np.float64)
        order = np.argsort(-s, kind="stable")
        if n is not None:
            order = order[:n]
        reasons = [[{**reason, "rank": r + 1}] if reason else [] for r in range(len(order))]
        return cls([ids[i] for i in order], s[order], reasons)

    def top(self, n: int) -> "ItemList":
        return ItemList(self.ids[:n], self.scores[:n], self.reasons[:n])

    def without(self, exclude: Iterable[str]) -> "ItemList":
        ex = set(exclude)
        keep = [i for i, x in enumerate(self.ids) if x not in ex]
        return ItemList([self.ids[i] for i in keep], self.scores[keep], [self.reasons[i] for i in keep])

    def to_records(self) -> list[dict[str, Any]]:
        return [{"item_id": i, "score": s, "reasons": r} for i, s, r in self]
