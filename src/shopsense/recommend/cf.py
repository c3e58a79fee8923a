"""Personal collaborative filtering through the `implicit` library (ALS or BPR), event types weighted.

`implicit` is imported lazily inside functions. Users the model never saw are folded in from their
history (ALS: one exact least-squares step against the fixed item factors; BPR: mean of item factors).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from shopsense.recommend.config import CFConfig


def weighted_matrix(users: np.ndarray, items: np.ndarray, weights: np.ndarray, n_users: int, n_items: int):
    """User x item CSR of summed event weights (duplicates add up)."""
    from scipy.sparse import csr_matrix

    keep = weights > 0
    m = csr_matrix((weights[keep].astype(np.float32), (users[keep], items[keep])), shape=(n_users, n_items))
    m.sum_duplicates()
    return m


def sequences_matrix(seqs: Sequence[np.ndarray], n_items: int):
    """User x item CSR with weight 1 per interaction (for sequence files without event types)."""
    lens = np.array([len(s) for s in seqs])
    users = np.repeat(np.arange(len(seqs)), lens)
    items = np.concatenate([np.asarray(s, np.int64) for s in seqs]) if len(seqs) else np.zeros(0, np.int64)
    return weighted_matrix(users, items, np.ones(len(items), np.float32), len(seqs), n_items)


def fit_factors(user_items, cfg: CFConfig, threads: int = 2, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Fit ALS/BPR on a user x item CSR; returns (user_factors, item_factors) as float32 numpy."""
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    if cfg.algorithm == "als":
        model = AlternatingLeastSquares(factors=cfg.factors, regularization=cfg.regularization,
                                        iterations=cfg.iterations, alpha=cfg.alpha, random_state=cfg.seed,
                                        num_threads=threads)
    else:
        model = BayesianPersonalizedRanking(factors=cfg.factors, learning_rate=cfg.learning_rate,
                                            regularization=cfg.regularization, iterations=cfg.iterations,
                                            random_state=cfg.seed, num_threads=threads)
    model.fit(user_items.tocsr().astype(np.float32), show_progress=progress)
    return np.asarray(model.user_factors, np.float32), np.asarray(model.item_factors, np.float32)


def fold_in(item_factors: np.ndarray, rows: np.ndarray, weights: np.ndarray, cfg: CFConfig) -> np.ndarray:
    """A user vector for a history the model never saw (rows = item rows, weights = event weights)."""
    d = item_factors.shape[1]
    if len(rows) == 0:
        return np.zeros(d, np.float32)
    y = item_factors[rows].astype(np.float64)
    if cfg.algorithm == "bpr":
        v = y.mean(axis=0)
        v[-1] = 1.0  # implicit's BPR keeps the item bias in the last factor; users carry a constant 1
        return v.astype(np.float32)
    # ALS (Hu, Koren, Volinsky 2008): x = (YtY + Yt(C-I)Y + reg I)^-1 Yt C p, with c = 1 + alpha*w
    full = item_factors.astype(np.float64)
    c = 1.0 + cfg.alpha * np.asarray(weights, np.float64)
    a = full.T @ full + (y.T * (c - 1.0)) @ y + cfg.regularization * np.eye(d)
    b = (y.T * c).sum(axis=1)
    return np.linalg.solve(a, b).astype(np.float32)
