"""Exact and near-duplicate products, clustered, each cluster with one canonical item.

Exact: identical normalised text. Near: MinHash/LSH (datasketch) over character shingles proposes
candidate pairs, which are then verified with the exact Jaccard of the shingle sets, and/or cosine
similarity of encoder vectors. Pairs whose "code" tokens (tokens with digits: model numbers, sizes,
colour codes) differ are rejected by default: "Paint #SC-141" vs "Paint #SC-122" are variants.

Nothing here changes the catalog: the result is a list of clusters; merging them is an explicit,
reversible store step (`shopsense quality merge`).
"""
from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from shopsense.errors import DataError
from shopsense.quality.config import DuplicateConfig
from shopsense.text.itemtext import item_text
from shopsense.types import Item

_TOK = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> list[str]:
    """Lower-case NFKC word tokens; punctuation and spacing differences vanish."""
    return _TOK.findall(unicodedata.normalize("NFKC", text).lower())


def code_tokens(tokens: Sequence[str]) -> frozenset[str]:
    return frozenset(t for t in tokens if any(c.isdigit() for c in t))


def shingles(tokens: Sequence[str], k: int) -> set[str]:
    s = " ".join(tokens)
    if len(s) <= k:
        return {s} if s else set()
    return {s[i:i + k] for i in range(len(s) - k + 1)}


@dataclass
class DuplicateCluster:
    cluster_id: int
    canonical_id: str
    member_ids: list[str]  # canonical first
    pairs: list[tuple[str, str, float, str]] = field(default_factory=list)  # (a, b, similarity, method)

    @property
    def duplicate_ids(self) -> list[str]:
        return [m for m in self.member_ids if m != self.canonical_id]

    def to_dict(self) -> dict:
        return {"cluster_id": self.cluster_id, "canonical_id": self.canonical_id,
                "member_ids": self.member_ids, "pairs": [list(p) for p in self.pairs]}


class _UnionFind:
    # hand-written: 15 lines, no dependency worth adding for it
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, a: int) -> int:
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def completeness(item: Item) -> tuple:
    """Ranking key of the canonical item: most filled fields, then longest text, then input order."""
    filled = sum(bool(x) for x in (item.description, item.category, item.brand, item.attributes)) + \
        (item.price is not None) + (item.rating is not None)
    return (filled, len(item.description) + len(item.title))


def _minhash_pairs(toks: list[list[str]], cfg: DuplicateConfig, progress: bool) -> list[tuple[int, int, float]]:
    from datasketch import MinHash, MinHashLSH
    from tqdm import tqdm

    sh = [shingles(t, cfg.shingle) for t in toks]
    lsh = MinHashLSH(threshold=cfg.jaccard_threshold, num_perm=cfg.num_perm)
    hashes = []
    for i, s in enumerate(tqdm(sh, desc="minhash", disable=not progress)):
        m = MinHash(num_perm=cfg.num_perm, seed=1)
        m.update_batch([x.encode() for x in s])
        hashes.append(m)
        if s:
            lsh.insert(i, m)
    out = []
    for i, m in enumerate(hashes):
        if not sh[i]:
            continue
        for j in lsh.query(m):
            if j <= i:
                continue
            jac = len(sh[i] & sh[j]) / len(sh[i] | sh[j])  # verify the LSH candidate exactly
            if jac >= cfg.jaccard_threshold:
                out.append((i, j, jac))
    return out


def _embedding_pairs(emb: np.ndarray, threshold: float, block: int = 2048) -> list[tuple[int, int, float]]:
    emb = np.asarray(emb, np.float32)
    out = []
    for s in range(0, len(emb), block):
        sims = emb[s:s + block] @ emb.T
        r, c = np.nonzero(sims >= threshold)
        for a, b in zip(r + s, c):
            if b > a:
                out.append((int(a), int(b), float(sims[a - s, b])))
    return out


def find_duplicates(items: Sequence[Item], config: DuplicateConfig | None = None, *,
                    embeddings: np.ndarray | None = None, progress: bool = False) -> list[DuplicateCluster]:
    """Cluster exact and near-duplicate items. `embeddings` (rows aligned with `items`, L2-normalised)
    is needed for method 'embedding' / 'both'. Returns clusters of >= 2 items, largest first."""
    cfg = config or DuplicateConfig()
    if cfg.method in ("embedding", "both"):
        if embeddings is None:
            raise DataError("duplicate method needs item embeddings", field="embeddings",
                            hint="pass embeddings= or set quality.duplicates.method = 'minhash'")
        if len(embeddings) != len(items):
            raise DataError(f"{len(embeddings)} embeddings for {len(items)} items", field="embeddings")
    texts = [item_text(it, cfg.fields) for it in items]
    toks = [normalise(t) for t in texts]
    codes = [code_tokens(t) for t in toks]
    uf = _UnionFind(len(items))
    pairs: list[tuple[int, int, float, str]] = []
    by_text: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(toks):
        if t:
            by_text[" ".join(t)].append(i)
    for group in by_text.values():
        for j in group[1:]:
            pairs.append((group[0], j, 1.0, "exact"))
    cands: list[tuple[int, int, float, str]] = []
    if cfg.method in ("minhash", "both"):
        cands += [(a, b, s, "minhash") for a, b, s in _minhash_pairs(toks, cfg, progress)]
    if cfg.method in ("embedding", "both"):
        cands += [(a, b, s, "embedding") for a, b, s in _embedding_pairs(embeddings, cfg.cosine_threshold)]
    for a, b, s, m in cands:
        if toks[a] == toks[b]:
            continue  # already an exact pair
        if cfg.require_same_codes and codes[a] != codes[b]:
            continue
        pairs.append((a, b, s, m))
    for a, b, _, _ in pairs:
        uf.union(a, b)
    members: dict[int, list[int]] = defaultdict(list)
    for a, b, _, _ in pairs:
        for x in (a, b):
            r = uf.find(x)
            if x not in members[r]:
                members[r].append(x)
    pairs_by_root: dict[int, list] = defaultdict(list)
    for a, b, s, m in pairs:
        pairs_by_root[uf.find(a)].append((items[a].item_id, items[b].item_id, round(float(s), 4), m))
    clusters = []
    for root, rows in members.items():
        rows = sorted(rows)
        canon = max(rows, key=lambda r: (completeness(items[r]), -r))
        ids = [items[canon].item_id] + [items[r].item_id for r in rows if r != canon]
        clusters.append(DuplicateCluster(0, items[canon].item_id, ids, pairs_by_root[root]))
    clusters.sort(key=lambda c: (-len(c.member_ids), c.canonical_id))
    for n, c in enumerate(clusters):
        c.cluster_id = n
    return clusters
