"""Top-k selection with a defined order for ties, and the per-item key that breaks them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np


def tie_keys(ids: Iterable[str]) -> np.ndarray:
    """A tie-break key per item id (uint64, the first 8 bytes of its BLAKE2b digest): the same for the same id
    in every process and every catalog order, and unrelated to when the item was added. Ranking ties by row
    (insertion order) instead made results depend on the order a catalog was loaded in, and on Home Depot,
    where rows follow product uid, it favoured older products, which the judgment pool holds more of: BM25 alone
    on train read 0.3976 with ties to the lower row, 0.3933 to the higher, 0.3953 by this key
    (benchmarks/results/search.md, twentieth session)."""
    return np.fromiter((int.from_bytes(hashlib.blake2b(i.encode(), digest_size=8).digest(), "little") for i in ids),
                       dtype=np.uint64)


def top_k(scores: np.ndarray, k: int, tie: np.ndarray | None = None) -> np.ndarray:
    """Positions of the `k` largest `scores`, best first. Equal scores go to the lower `tie` key (one per
    position, e.g. `tie_keys` of the items), or to the lower position without one, both at the cut (which of
    several tied positions make the top k) and in the order. `np.argpartition` alone leaves both to its
    algorithm, which numpy does not fix between releases; duplicate titles give many equal BM25 scores, so the
    ranking (and everything fitted on it) depended on the installed numpy (benchmarks/results/search.md,
    nineteenth session)."""
    scores = np.asarray(scores)
    n = len(scores)
    if tie is not None and len(tie) != n:
        raise ValueError(f"top_k: {len(tie)} tie keys for {n} scores")
    if k <= 0:
        return np.zeros(0, np.int64)
    if k >= n:
        top = np.arange(n)
    else:
        kth = np.partition(scores, n - k)[n - k]  # the k-th largest value
        above = np.flatnonzero(scores > kth)
        at = np.flatnonzero(scores == kth)
        if tie is not None:
            at = at[np.argsort(tie[at], kind="stable")]
        # without keys both parts ascend and equal scores never span them, so the stable sort keeps ties in order
        top = np.concatenate([above, at[: k - len(above)]])
    if tie is None:
        return top[np.argsort(-scores[top], kind="stable")]
    return top[np.lexsort((tie[top], -scores[top]))]


def top_positive(scores: np.ndarray, k: int, tie: np.ndarray) -> np.ndarray:
    """Positions of the `k` best positive `scores` (a retriever's hits; 0 = no match), best first, ties to the
    lower `tie` key (one per position of `scores`)."""
    pos = np.flatnonzero(scores > 0)
    return pos[top_k(scores[pos], k, tie[pos])]
