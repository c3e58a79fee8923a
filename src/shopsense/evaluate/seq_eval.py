"""Leave-one-out, full-ranking evaluation of sequential recommenders.

Protocol (S3-Rec / SASRec papers, all-items table): for each user the last item is the test target,
the second-to-last the validation target, the rest is training. A model ranks the target among ALL
items (no sampled negatives); items already in the user's history are removed from the ranking (as the
S3-Rec reference code does); ties count against the target (`metrics.target_ranks`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from shopsense.evaluate.metrics import hit_rate_at_k, ndcg_single_target_at_k, target_ranks

#: scores a batch of histories (item-row arrays) -> (len(batch), n_items) float array
ScoreFn = Callable[[list[np.ndarray]], np.ndarray]


def loo_split(sequences: Sequence[np.ndarray], min_len: int = 3) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """(train_seqs, valid_targets, test_targets, user_rows) over users with at least `min_len` items."""
    if min_len < 3:
        raise ValueError("leave-one-out needs min_len >= 3 (one train item, one valid, one test)")
    users = np.array([u for u, s in enumerate(sequences) if len(s) >= min_len], dtype=np.int64)
    train = [np.asarray(sequences[u][:-2], np.int64) for u in users]
    valid = np.array([sequences[u][-2] for u in users], dtype=np.int64)
    test = np.array([sequences[u][-1] for u in users], dtype=np.int64)
    return train, valid, test, users


def cold_item_split(sequences: Sequence[np.ndarray], n_items: int, frac: float = 0.1, seed: int = 0,
                    keep_last: int = 1) -> tuple[np.ndarray, list[np.ndarray]]:
    """Hold `frac` of the items out of training entirely. Returns (cold item mask, sequences with the cold
    items removed from everything but the last `keep_last` positions).

    keep_last=1: only the test position may be cold (users whose test item is cold are the cold-start test
    users; the valid item is never cold). keep_last=2: the validation position may be cold too, so models can
    be tuned on cold *validation* targets without looking at test; a cold validation item then sits in that
    user's test-time history (a brand-new item the user interacted with after training), never in training."""
    if not 0 < frac < 1:
        raise ValueError("frac must be in (0, 1)")
    if keep_last not in (1, 2):
        raise ValueError("keep_last must be 1 or 2")
    rng = np.random.default_rng(seed)
    cold = np.zeros(n_items, dtype=bool)
    cold[rng.choice(n_items, size=max(1, int(round(frac * n_items))), replace=False)] = True
    out = []
    for s in sequences:
        s = np.asarray(s, np.int64)
        if len(s) == 0:
            out.append(s)
            continue
        cut = max(len(s) - keep_last, 0)
        head = s[:cut][~cold[s[:cut]]]
        out.append(np.concatenate([head, s[cut:]]))
    return cold, out


def rank_targets(score_fn: ScoreFn, histories: Sequence[np.ndarray], targets: np.ndarray,
                 mask_history: bool = True, batch_size: int = 1024, progress: bool = False) -> np.ndarray:
    """Full-ranking rank (0 = best) of each user's target."""
    from tqdm.auto import tqdm

    targets = np.asarray(targets, np.int64)
    ranks = np.empty(len(targets), dtype=np.int64)
    starts = range(0, len(targets), batch_size)
    for s in tqdm(starts, desc="ranking", leave=False, disable=not progress):
        hist = [np.asarray(h, np.int64) for h in histories[s:s + batch_size]]
        scores = np.array(score_fn(hist), dtype=np.float64, copy=True)
        if scores.shape != (len(hist), scores.shape[1]) or scores.shape[1] <= int(targets.max(initial=0)):
            raise ValueError(f"score_fn returned shape {scores.shape} for {len(hist)} histories")
        if mask_history:
            rows = np.repeat(np.arange(len(hist)), [len(h) for h in hist])
            cols = np.concatenate(hist) if hist else np.zeros(0, np.int64)
            scores[rows, cols] = -np.inf
        ranks[s:s + len(hist)] = target_ranks(scores, targets[s:s + len(hist)])
    return ranks


def summarize(ranks: np.ndarray, ks: Sequence[int] = (10, 20)) -> dict[str, float]:
    out: dict[str, float] = {"n_users": int(len(ranks))}
    for k in ks:
        out[f"HR@{k}"] = hit_rate_at_k(ranks, k)
        out[f"NDCG@{k}"] = ndcg_single_target_at_k(ranks, k)
    return out


def evaluate_full_ranking(score_fn: ScoreFn, histories: Sequence[np.ndarray], targets: np.ndarray,
                          ks: Sequence[int] = (10, 20), mask_history: bool = True, batch_size: int = 1024,
                          progress: bool = False) -> dict[str, float]:
    """HR@k and NDCG@k (one target per user) under full ranking."""
    return summarize(rank_targets(score_fn, histories, targets, mask_history, batch_size, progress), ks)
