"""Row validation: raw fields -> normalised, typed tuples ready for the store, or a `Reject`.

Hand-written rather than a pydantic model per row: ingest validates millions of rows and a
per-field check is several times faster than building a model per row; the typed `Item` / `Event`
models in `shopsense.types` remain the API-side schema and the tests check both agree.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from shopsense.ingest.config import IngestConfig
from shopsense.ingest.eventkey import NONE
from shopsense.ingest.pseudonym import Pseudonymizer
from shopsense.types import EVENT_ALIASES, EVENT_CODES

# Accepted column names (first is canonical). Anything else on an item row goes to `attributes`.
ITEM_FIELDS = {
    "item_id": ("item_id", "id", "product_id", "product_uid", "sku"),
    "title": ("title", "name", "product_title"),
    "description": ("description", "desc", "product_description"),
    "category": ("category", "category_path", "categories"),
    "brand": ("brand",),
    "price": ("price",),
    "rating": ("rating", "avg_rating"),
    "attributes": ("attributes", "attrs"),
    "stock": ("stock", "quantity", "inventory"),
}
EVENT_FIELDS = {
    "user_id": ("user_id", "user", "visitorid", "visitor_id", "customer_id"),
    "item_id": ("item_id", "item", "itemid", "product_id", "product_uid"),
    "type": ("type", "event_type", "event"),
    "value": ("value", "rating_value", "amount"),
    "query": ("query", "search_query", "q"),
    "timestamp": ("timestamp", "ts", "time", "event_time"),
    "session_id": ("session_id", "session", "sessionid"),
    "event_id": ("event_id", "id"),
}

MIN_TS = 631_152_000.0  # 1990-01-01


@dataclass(slots=True)
class Reject:
    reason: str
    field: str | None
    detail: str


def resolve_columns(columns: list[str], spec: dict[str, tuple[str, ...]]) -> tuple[dict[str, str], list[str]]:
    """Map canonical field -> column present in the file; return it and the unknown columns."""
    lower = {c.lower(): c for c in columns}
    mapping: dict[str, str] = {}
    for canon, aliases in spec.items():
        for a in aliases:
            if a in lower:
                mapping[canon] = lower[a]
                break
    used = set(mapping.values())
    return mapping, [c for c in columns if c not in used]


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))


def _clean(v: Any) -> Any:
    """None for missing/blank/NaN values, stripped text for strings, the value itself otherwise."""
    if v.__class__ is str:
        if not v or v[0].isspace() or v[-1].isspace():
            v = v.strip()
            return v or None
        return v
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    return v


def parse_number(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(v, (int, float)):
        f = float(v)
    else:
        s = str(v).strip().replace(",", "")
        for sym in ("$", "€", "£"):
            s = s.removeprefix(sym)
        f = float(s)
    if math.isnan(f) or math.isinf(f):
        raise ValueError("not a finite number")
    return f


def parse_timestamp(v: Any, now: float) -> float:
    """ISO 8601 (naive = UTC) or epoch seconds / milliseconds; must fall in [1990, now + 1 day]."""
    if isinstance(v, datetime):
        dt = v if v.tzinfo else v.replace(tzinfo=timezone.utc)
        ts = dt.timestamp()
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        ts = float(v)
    else:
        s = str(v).strip()
        if s[:1].isdigit() and len(s) > 4 and s[4] == "-":  # ISO 8601 date (Python 3.11 reads 'Z' too)
            dt = datetime.fromisoformat(s)
            ts = (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()
        else:
            ts = float(s)
    if ts > 1e11:  # epoch milliseconds
        ts /= 1000.0
    if not (MIN_TS <= ts <= now + 86_400):
        raise ValueError(f"{ts:.0f} is outside 1990 .. now")
    return ts


def parse_category(v: Any) -> list[str]:
    if isinstance(v, (list, tuple)):
        return [str(x).strip() for x in v if str(x).strip()]
    s = str(v).strip()
    if s.startswith("["):
        return [str(x).strip() for x in json.loads(s) if str(x).strip()]
    for sep in (">", "|", "/"):
        if sep in s:
            return [p.strip() for p in s.split(sep) if p.strip()]
    return [s] if s else []


def _bounded_number(v: Any, field: str, lo: float, hi: float | None) -> float | None | Reject:
    """A missing value is None; otherwise a number in [lo, hi], or the Reject that says why not."""
    if _empty(v):
        return None
    try:
        x = parse_number(v)
    except (ValueError, TypeError):
        return Reject("bad_type", field, f"{v!r} is not a number")
    if x < lo or (hi is not None and x > hi):
        limit = f"outside {lo:g}..{hi:g}" if hi is not None else f"below {lo:g}"
        return Reject("bad_value", field, f"{field} {x:g} {limit}")
    return x


class ItemValidator:
    def __init__(self, columns: list[str], config: IngestConfig) -> None:
        self.map, self.extra = resolve_columns(columns, ITEM_FIELDS)
        self.cfg = config

    def missing_required(self) -> list[str]:
        return [f for f in ("item_id", "title") if f not in self.map]

    def __call__(self, row: dict[str, Any]) -> tuple | Reject:
        m, cfg = self.map, self.cfg
        g = row.get
        item_id = g(m.get("item_id", ""), None)
        if _empty(item_id):
            return Reject("missing_field", "item_id", "every item needs an item_id")
        item_id = str(item_id).strip()
        title = g(m.get("title", ""), None)
        if _empty(title):
            return Reject("missing_field", "title", "every item needs a non-empty title")
        title = str(title).strip()
        if len(title) > cfg.max_title_len:
            return Reject("too_long", "title", f"{len(title)} chars > {cfg.max_title_len}")
        desc = g(m.get("description", ""), None)
        desc = "" if _empty(desc) else str(desc)
        if len(desc) > cfg.max_text_len:
            return Reject("too_long", "description", f"{len(desc)} chars > {cfg.max_text_len}")
        stock = None
        try:
            cat_v = g(m.get("category", ""), None)
            category = [] if _empty(cat_v) else parse_category(cat_v)
        except (ValueError, TypeError):
            return Reject("bad_type", "category", "expected 'A > B > C' or a JSON list of strings")
        price = _bounded_number(g(m.get("price", ""), None), "price", 0.0, None)
        if isinstance(price, Reject):
            return price
        rating = _bounded_number(g(m.get("rating", ""), None), "rating", 0.0, cfg.max_rating)
        if isinstance(rating, Reject):
            return rating
        v = g(m.get("stock", ""), None)
        if not _empty(v):
            try:
                f = parse_number(v)
                if f != int(f):
                    raise ValueError
                stock = int(f)
            except (ValueError, TypeError):
                return Reject("bad_type", "stock", f"{v!r} is not a whole number")
        attrs: dict[str, Any] = {}
        v = g(m.get("attributes", ""), None)
        if not _empty(v):
            if isinstance(v, dict):
                attrs = dict(v)
            else:
                try:
                    attrs = json.loads(v)
                except (ValueError, TypeError):
                    return Reject("bad_type", "attributes", "expected a JSON object like {\"color\": \"red\"}")
                if not isinstance(attrs, dict):
                    return Reject("bad_type", "attributes", "expected a JSON object like {\"color\": \"red\"}")
        for c in self.extra:
            ev = g(c)
            if not _empty(ev):
                attrs[c] = ev
        brand = g(m.get("brand", ""), None)
        brand = "" if _empty(brand) else str(brand).strip()
        return (item_id, title, desc, json.dumps(category, ensure_ascii=False), brand, price, rating,
                json.dumps(attrs, ensure_ascii=False, default=str) if attrs else None, stock)


class EventValidator:
    def __init__(self, columns: list[str], config: IngestConfig, pseudo: Pseudonymizer) -> None:
        self.map, self.extra = resolve_columns(columns, EVENT_FIELDS)
        self.cfg, self.pseudo = config, pseudo
        self.now = time.time()
        # column keys resolved once; a missing optional column reads as None
        k = self.map.get
        self.k_user, self.k_type, self.k_ts = k("user_id"), k("type"), k("timestamp")
        self.k_item, self.k_query, self.k_value = k("item_id"), k("query"), k("value")
        self.k_session, self.k_eid = k("session_id"), k("event_id")

    def missing_required(self) -> list[str]:
        return [f for f in ("user_id", "type", "timestamp") if f not in self.map]

    def __call__(self, row: dict[str, Any]) -> tuple | Reject:
        # Hot path (millions of rows): plain local lookups, no helper calls for the common case.
        g = row.get
        user = _clean(g(self.k_user))
        if user is None:
            return Reject("missing_field", "user_id", "every event needs a user_id")
        t = _clean(g(self.k_type))
        if t is None:
            return Reject("missing_field", "type", "every event needs a type")
        etype = EVENT_ALIASES.get(t) or EVENT_ALIASES.get(str(t).lower())
        if etype is None:
            return Reject("unknown_event_type", "type",
                          f"{str(t)[:40]!r} is not one of view, click, cart, purchase, rating, search")
        ts_v = _clean(g(self.k_ts))
        if ts_v is None:
            return Reject("missing_field", "timestamp", "every event needs a timestamp")
        try:
            ts = parse_timestamp(ts_v, self.now)
        except (ValueError, TypeError, OverflowError) as e:
            return Reject("bad_timestamp", "timestamp", f"{str(ts_v)[:40]!r}: {e}; use ISO 8601 or epoch seconds")
        item = _clean(g(self.k_item))
        query = _clean(g(self.k_query))
        if etype == "search":
            if query is None:
                return Reject("missing_field", "query", "a search event needs its query text")
            if len(query) > self.cfg.max_text_len:
                return Reject("too_long", "query", f"{len(query)} chars > {self.cfg.max_text_len}")
        elif item is None:
            return Reject("missing_field", "item_id", f"a {etype} event needs an item_id")
        value = None
        v = _clean(g(self.k_value))
        if v is not None:
            try:
                value = parse_number(v)
            except (ValueError, TypeError):
                return Reject("bad_type", "value", f"{str(v)[:40]!r} is not a number")
        if etype == "rating":
            if value is None:
                return Reject("missing_field", "value", "a rating event needs its value")
            if not 0 <= value <= self.cfg.max_rating:
                return Reject("bad_value", "value", f"rating {value} outside 0..{self.cfg.max_rating}")
        session = _clean(g(self.k_session))
        item = None if item is None else str(item)
        raw_user = str(user)
        given = _clean(g(self.k_eid))
        pseudo = self.pseudo
        code = EVENT_CODES[etype]
        ukey, ucomp = pseudo.user_parts(raw_user)
        skey, scomp = (None, NONE) if session is None else pseudo.session_parts(str(session))
        if given is not None:
            eid = pseudo.keys.given_key(str(given))
        else:
            eid = pseudo.keys.event_key(ucomp, item, code, ts, value, None if query is None else str(query), scomp)
        return (eid, ukey, item, code, value, None if query is None else str(query), ts, skey)
