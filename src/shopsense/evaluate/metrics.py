"""Ranking metrics, in one module, shared by search and recommendation evaluation.

Conventions: `ranked` is a sequence of ids, best first; `gains` maps id -> graded gain (>0 relevant,
unjudged ids count 0). NDCG uses the exponential-free linear gain `gain / log2(rank + 1)`, the
TREC/`trec_eval` form, and the ideal DCG over *all* judged gains.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np


def dcg_at_k(gains_in_rank_order: Sequence[float], k: int) -> float:
    g = np.asarray(gains_in_rank_order[:k], dtype=np.float64)
    if g.size == 0:
        return 0.0
    return float(np.sum(g / np.log2(np.arange(2, g.size + 2))))


def ndcg_at_k(ranked: Sequence[str], gains: Mapping[str, float], k: int = 10) -> float:
    ideal = dcg_at_k(sorted((g for g in gains.values() if g > 0), reverse=True), k)
    if ideal == 0.0:
        return 0.0
    return dcg_at_k([gains.get(i, 0.0) for i in ranked[:k]], k) / ideal


def mrr_at_k(ranked: Sequence[str], relevant: set[str] | Mapping[str, float], k: int = 10) -> float:
    for r, i in enumerate(ranked[:k], start=1):
        if i in relevant:
            return 1.0 / r
    return 0.0


def recall_at_k(ranked: Sequence[str], relevant: set[str] | Mapping[str, float], k: int = 100) -> float:
    if not relevant:
        return 0.0
    hits = sum(1 for i in ranked[:k] if i in relevant)
    return hits / len(relevant)


def target_ranks(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Full-ranking rank (0 = best) of each row's target among all columns of `scores`
    (users x items). Ties count against the target (pessimistic), so a constant scorer gets no credit."""
    t = scores[np.arange(len(targets)), targets][:, None]
    return (scores >= t).sum(axis=1) - 1


def hit_rate_at_k(ranks: np.ndarray, k: int) -> float:
    return float(np.mean(ranks < k)) if len(ranks) else 0.0


def ndcg_single_target_at_k(ranks: np.ndarray, k: int) -> float:
    """NDCG@k with one relevant item per user (leave-one-out): 1/log2(rank+2) if rank < k."""
    if len(ranks) == 0:
        return 0.0
    r = np.asarray(ranks, dtype=np.float64)
    return float(np.mean(np.where(r < k, 1.0 / np.log2(r + 2.0), 0.0)))
