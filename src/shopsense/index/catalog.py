"""Columnar item attributes for filtering and facet counting over row numbers.

Facets are counted with numpy over the *whole* boolean result mask (never just the page shown),
so the counts are exact for the full filtered result set.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from shopsense.errors import DataError
from shopsense.types import Item

PRICE_EDGES = [0.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, math.inf]
RATING_THRESHOLDS = [4.0, 3.0, 2.0, 1.0]


class Filters(BaseModel):
    """Hard filters. Every set field must hold; prices are inclusive bounds."""

    model_config = ConfigDict(extra="forbid")

    price_min: float | None = Field(None, ge=0)
    price_max: float | None = Field(None, ge=0)
    category: list[str] = Field(default_factory=list, description="category paths ('A > B'); prefix match, any of")
    brand: list[str] = Field(default_factory=list, description="brands, any of (case-insensitive)")
    min_rating: float | None = None
    in_stock: bool = False

    @model_validator(mode="after")
    def _check(self) -> "Filters":
        if self.price_min is not None and self.price_max is not None and self.price_min > self.price_max:
            raise ValueError(f"price_min {self.price_min} is above price_max {self.price_max}")
        return self

    def is_empty(self) -> bool:
        # field by field: comparing with a fresh Filters() built a model per search (~4 % of a search)
        return (self.price_min is None and self.price_max is None and not self.category and not self.brand
                and self.min_rating is None and not self.in_stock)

    def merged(self, other: "Filters") -> "Filters":
        """`other`'s set fields override this one's (explicit filters over parsed ones)."""
        return Filters.model_validate({**self.model_dump(), **other.model_dump(exclude_defaults=True)})


def _top_counts(bc: np.ndarray, names: list[str], top: int) -> dict[str, int]:
    """The `top` largest non-zero counts of `bc` by name, largest first (ties: lower code first)."""
    order = np.argsort(-bc, kind="stable")[:top]
    return {names[i]: int(bc[i]) for i in order if bc[i] > 0}


def _bucket_label(lo: float, hi: float) -> str:
    return f"{lo:g}+" if math.isinf(hi) else f"{lo:g}-{hi:g}"


class Catalog:
    def __init__(self) -> None:
        self.price = np.zeros(0)
        self.rating = np.zeros(0)
        self.stock = np.zeros(0)
        self.brand = np.zeros(0, np.int64)
        self.category = np.zeros(0, np.int64)  # code of the full path, -1 none
        self.brands: list[str] = []
        self.paths: list[str] = []
        self._brand_code: dict[str, int] = {}
        self._path_code: dict[str, int] = {}
        self._tops: tuple[list[str], np.ndarray] | None = None
        self._priced: tuple[int, bool] | None = None  # (id of the price array, has_prices) — asked per query

    def __len__(self) -> int:
        return len(self.price)

    def _grow(self, n: int) -> None:
        g = n - len(self.price)
        if g <= 0:
            return
        nan = np.full(g, np.nan)
        self.price, self.rating, self.stock = (np.concatenate([a, nan]) for a in (self.price, self.rating, self.stock))
        self.brand = np.concatenate([self.brand, np.full(g, -1, np.int64)])
        self.category = np.concatenate([self.category, np.full(g, -1, np.int64)])

    @staticmethod
    def _code(table: dict[str, int], names: list[str], key: str) -> int:
        if not key:
            return -1
        c = table.get(key)
        if c is None:
            c = table[key] = len(names)
            names.append(key)
        return c

    def set_items(self, rows: Sequence[int], items: Sequence[Item]) -> None:
        self._priced = None
        if len(rows):
            self._grow(int(max(rows)) + 1)
        for r, it in zip(rows, items):
            self.price[r] = np.nan if it.price is None else float(it.price)
            self.rating[r] = np.nan if it.rating is None else float(it.rating)
            self.stock[r] = np.nan if it.stock is None else float(it.stock)
            self.brand[r] = self._code(self._brand_code, self.brands, it.brand.strip())
            self.category[r] = self._code(self._path_code, self.paths, " > ".join(c.strip() for c in it.category))

    def remove(self, rows: Sequence[int]) -> None:
        self._priced = None
        for r in rows:
            self.price[r] = self.rating[r] = self.stock[r] = np.nan
            self.brand[r] = self.category[r] = -1

    @property
    def has_prices(self) -> bool:
        """Whether any item has a price (price phrases in queries become filters only then). Cached: it
        is asked on every query and only set_items/remove (or a new price array) change the answer."""
        if self._priced is None or self._priced[0] != id(self.price):
            self._priced = (id(self.price), bool(np.isfinite(self.price).any()))
        return self._priced[1]

    def mask(self, f: Filters | None, alive: np.ndarray | None = None) -> np.ndarray:
        m = np.ones(len(self), bool) if alive is None else alive.copy()
        if f is None or f.is_empty():
            return m
        with np.errstate(invalid="ignore"):
            if f.price_min is not None:
                m &= self.price >= f.price_min  # unknown price (NaN) never passes a price filter
            if f.price_max is not None:
                m &= self.price <= f.price_max
            if f.min_rating is not None:
                m &= self.rating >= f.min_rating
            if f.in_stock:
                m &= self.stock > 0
        if f.brand:
            want = {b.strip().lower() for b in f.brand}
            codes = [i for i, b in enumerate(self.brands) if b.lower() in want]
            m &= np.isin(self.brand, codes)
        if f.category:
            pref = [p.strip().lower() for p in f.category]
            codes = [i for i, p in enumerate(self.paths)
                     if any(p.lower() == q or p.lower().startswith(q + " > ") for q in pref)]
            m &= np.isin(self.category, codes)
        return m

    def _top_levels(self) -> tuple[list[str], np.ndarray]:
        """(top-level category names, top-level code of every full-path code), rebuilt when paths grow:
        the facet then counts with one bincount instead of splitting each present path per search."""
        if self._tops is None or len(self._tops[1]) != len(self.paths):
            names: dict[str, int] = {}
            codes = [names.setdefault(p.split(" > ")[0], len(names)) for p in self.paths]
            self._tops = (list(names), np.asarray(codes, np.int64).reshape(-1))
        return self._tops

    def facets(self, mask: np.ndarray, top: int = 20) -> dict[str, Any]:
        """Counts over every row where `mask` is True: category (full path and top level), brand,
        price buckets, rating thresholds (cumulative, 'at least x stars')."""
        rows = np.flatnonzero(mask)
        out: dict[str, Any] = {"total": int(len(rows))}

        def counts(codes: np.ndarray, names: list[str]) -> dict[str, int]:
            return _top_counts(np.bincount(codes[codes >= 0], minlength=len(names)), names, top)

        cat = self.category[rows]
        cat = cat[cat >= 0]
        full = np.bincount(cat, minlength=len(self.paths))
        out["category"] = _top_counts(full, self.paths, top)
        tops, top_of = self._top_levels()
        out["category_top"] = _top_counts(np.bincount(top_of[cat], minlength=len(tops)), tops, top)
        out["brand"] = counts(self.brand[rows], self.brands)
        p = self.price[rows]
        p = p[p >= 0]  # unknown (NaN) and invalid negative prices fall in no bucket
        # bucket i holds PRICE_EDGES[i] <= price < PRICE_EDGES[i + 1] (the last one is open-ended)
        hist = np.bincount(np.searchsorted(PRICE_EDGES[1:-1], p, side="right"), minlength=len(PRICE_EDGES) - 1)
        out["price"] = {_bucket_label(PRICE_EDGES[i], PRICE_EDGES[i + 1]): int(hist[i]) for i in range(len(hist)) if hist[i]}
        rt = self.rating[rows]
        with np.errstate(invalid="ignore"):
            out["rating"] = {f"{t:g}+": int((rt >= t).sum()) for t in RATING_THRESHOLDS if (rt >= t).any()}
        return out

    # -- persistence ------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in ("price", "rating", "stock", "brand", "category"):
            np.save(folder / f"{name}.npy", getattr(self, name))
        (folder / "names.json").write_text(json.dumps({"brands": self.brands, "paths": self.paths}))

    @classmethod
    def load(cls, folder: str | Path) -> "Catalog":
        folder = Path(folder)
        if not (folder / "names.json").exists():
            raise DataError(f"no catalog attributes in {folder}", hint="build the search index first")
        c = cls()
        for name in ("price", "rating", "stock", "brand", "category"):
            setattr(c, name, np.load(folder / f"{name}.npy"))
        names = json.loads((folder / "names.json").read_text())
        c.brands, c.paths = names["brands"], names["paths"]
        c._brand_code = {b: i for i, b in enumerate(c.brands)}
        c._path_code = {p: i for i, p in enumerate(c.paths)}
        return c
