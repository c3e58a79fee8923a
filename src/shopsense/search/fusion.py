"""Fusing ranked candidate lists: reciprocal-rank fusion and weighted fusion of normalised scores.

Both are a few lines of numpy over arrays; hand-written since no maintained library fuses two
score arrays more simply (ranx does, but pulls numba for this one line).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def ranks_of(scores: np.ndarray) -> np.ndarray:
    """1-based rank of each entry by descending score (ties broken by position)."""
    order = np.argsort(-np.asarray(scores), kind="stable")
    r = np.empty(len(order), np.int64)
    r[order] = np.arange(1, len(order) + 1)
    return r


def rrf(rank_lists: Sequence[np.ndarray], k: float = 60.0, weights: Sequence[float] | None = None) -> np.ndarray:
    """Reciprocal-rank fusion over aligned candidate arrays: `rank_lists[j][i]` is candidate i's
    1-based rank in list j, or 0 / negative when list j did not return it."""
    weights = weights or [1.0] * len(rank_lists)
    out = np.zeros(len(rank_lists[0]) if rank_lists else 0)
    for w, r in zip(weights, rank_lists):
        r = np.asarray(r, np.float64)
        out += np.where(r > 0, w / (k + r), 0.0)
    return out


def minmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if len(x) == 0:
        return x
    lo, hi = float(x.min()), float(x.max())
    return np.zeros_like(x) if hi - lo <= 1e-12 else (x - lo) / (hi - lo)


def weighted(scores: Sequence[np.ndarray], weights: Sequence[float], norm: str = "minmax") -> np.ndarray:
    """Weighted sum of per-list normalised scores over aligned candidates. norm: 'minmax' (each list
    scaled to [0, 1] over the candidates) or 'max' (divided by its max, keeps 0 = no match)."""
    out = np.zeros(len(scores[0]) if scores else 0)
    for w, s in zip(weights, scores):
        s = np.asarray(s, np.float64)
        if norm == "max":
            m = float(np.abs(s).max()) if len(s) else 0.0
            out += w * (s / m if m > 0 else s)
        else:
            out += w * minmax(s)
    return out
