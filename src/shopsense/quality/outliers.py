"""Price and rating outliers within category, by robust statistics (median / MAD).

robust z = 0.6745·|x − median| / MAD (Iglewicz & Hoaglin); flagged above `threshold` (3.5). Prices
are compared on a log scale. A category with fewer than `min_group` valued items borrows the
statistics of its parent path, and finally of the whole catalog. Invalid values (negative prices,
ratings outside the scale) are flagged outright. Each flag says why, in words.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from shopsense.quality.config import OutlierConfig
from shopsense.types import Item


@dataclass(frozen=True)
class Outlier:
    item_id: str
    field: str
    value: float
    group: str  # the category path whose statistics were used ("*" = whole catalog)
    median: float
    mad: float
    score: float  # robust z; inf for invalid values
    reason: str

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def _stats(x: np.ndarray) -> tuple[float, float]:
    med = float(np.median(x))
    mad = float(np.median(np.abs(x - med)))
    if mad == 0:  # more than half identical: fall back to the mean absolute deviation (scaled)
        mad = float(np.mean(np.abs(x - med))) * 1.2533
    return med, mad


def find_outliers(items: Sequence[Item], config: OutlierConfig | None = None) -> list[Outlier]:
    cfg = config or OutlierConfig()
    out: list[Outlier] = []
    for field in cfg.fields:
        vals: list[tuple[int, float]] = []
        for i, it in enumerate(items):
            v = getattr(it, field)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                continue
            v = float(v)
            if field == "price" and v <= 0:
                out.append(Outlier(it.item_id, field, v, "*", math.nan, math.nan, math.inf,
                                   f"price {v:g} is not positive"))
                continue
            if field == "rating" and not (cfg.rating_range[0] <= v <= cfg.rating_range[1]):
                out.append(Outlier(it.item_id, field, v, "*", math.nan, math.nan, math.inf,
                                   f"rating {v:g} is outside {cfg.rating_range[0]:g}..{cfg.rating_range[1]:g}"))
                continue
            vals.append((i, v))
        if not vals:
            continue
        tr = (lambda v: math.log(v)) if (field == "price" and cfg.log_price) else (lambda v: v)
        # values per category prefix (root, root>sub, ...), so small leaves can borrow from parents
        groups: dict[tuple[str, ...], list[float]] = defaultdict(list)
        for i, v in vals:
            cat = tuple(items[i].category)
            for d in range(1, len(cat) + 1):
                groups[cat[:d]].append(tr(v))
        groups[()] = [tr(v) for _, v in vals]
        stats = {g: _stats(np.asarray(x)) for g, x in groups.items() if len(x) >= cfg.min_group or g == ()}
        for i, v in vals:
            cat = tuple(items[i].category)
            g = next(cat[:d] for d in range(len(cat), -1, -1) if cat[:d] in stats)
            med, mad = stats[g]
            if mad <= 0 or len(groups[g]) < 3:
                continue
            z = 0.6745 * abs(tr(v) - med) / mad
            if z > cfg.threshold:
                gname = " > ".join(g) or "*"
                typical = math.exp(med) if (field == "price" and cfg.log_price) else med
                side = "above" if tr(v) > med else "below"
                out.append(Outlier(items[i].item_id, field, v, gname, typical, mad, round(z, 3),
                                   f"{field} {v:g} is far {side} the {'catalog' if gname == '*' else repr(gname)} "
                                   f"median {typical:.4g} (robust z {z:.1f} > {cfg.threshold:g})"))
    return out
