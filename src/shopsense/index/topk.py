"""Top-k selection with a defined order for ties."""

from __future__ import annotations

import numpy as np


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` largest `scores`, best first. Equal scores go to the lower position, both at the cut
    (which of several tied rows make the top k) and in the order. `np.argpartition` alone leaves both to its
    algorithm, which numpy does not fix between releases; duplicate titles give many equal BM25 scores, so the
    ranking (and everything fitted on it) depended on the installed numpy (benchmarks/results/search.md,
    nineteenth session)."""
    scores = np.asarray(scores)
    n = len(scores)
    if k <= 0:
        return np.zeros(0, np.int64)
    if k >= n:
        top = np.arange(n)
    else:
        kth = np.partition(scores, n - k)[n - k]  # the k-th largest value
        above = np.flatnonzero(scores > kth)
        # both parts ascend, and equal scores never span them, so the stable sort keeps ties in row order
        top = np.concatenate([above, np.flatnonzero(scores == kth)[: k - len(above)]])
    return top[np.argsort(-scores[top], kind="stable")]
