"""Exact and near-duplicate products, clustered, each cluster with one canonical item.

Exact: identical normalised text. Near: MinHash/LSH (datasketch) over character shingles proposes
candidate pairs, which are then verified with the exact Jaccard of the shingle sets, and/or cosine
similarity of encoder vectors. Pairs whose "code" tokens (tokens with digits: model numbers, sizes,
colour codes) or colour words differ are rejected by default: "Paint #SC-141" vs "Paint #SC-122"
and "PLA Filament, Black" vs "PLA Filament, Pink" are variants, not duplicates.

Clusters are stars, not connected components: every member is a verified near-duplicate of the
cluster's canonical item, so chains of variants (A~B~C with A!~C) do not snowball into one cluster.

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
    """Tokens that name a variant: with digits (model numbers, sizes) or colour words."""
    from shopsense.text.augment import lexicon
    colours = lexicon("lexicon_colors")
    return frozenset(t for t in tokens if any(c.isdigit() for c in t) or t in colours)


def substituted(a: Sequence[str], b: Sequence[str], min_ratio: float = 0.75) -> bool:
    """True when each title has a word the other lacks that is not a misspelling of one of the other's
    ("Round Toilet" vs "Elongated Toilet", "Tennessee" vs "Florida"): a variant, not a duplicate.
    Words only added or dropped on one side (marketing words, a lost adjective) are not substitutions."""
    from difflib import SequenceMatcher
    sa, sb = set(a) - set(b), set(b) - set(a)
    if not sa or not sb:
        return False

    def near(x: str, ys: set[str]) -> bool:
        # joined / split words ("DeckOver" vs "deck over") count as near via containment
        return any((len(x) >= 3 and len(y) >= 3 and (x in y or y in x))
                   or SequenceMatcher(None, x, y).ratio() >= min_ratio for y in ys)

    return any(not near(x, sb) for x in sa) and any(not near(y, sa) for y in sb)


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


def _embedding_pairs(emb: np.ndarray, threshold: float, block: int = 512) -> list[tuple[int, int, float]]:
    emb = np.asarray(emb, np.float32)
    out = []
    for s in range(0, len(emb), block):
        sims = emb[s:s + block] @ emb.T
        r, c = np.nonzero(sims >= threshold)
        for a, b in zip(r + s, c):
            if b > a:
                out.append((int(a), int(b), float(sims[a - s, b])))
    return out


def _star_clusters(items: Sequence[Item], pairs: list[tuple[int, int, float, str]]) -> list[DuplicateCluster]:
    """Greedy star clustering: the most complete (then best connected) unassigned item becomes a
    canonical, its unassigned direct near-duplicates join it. Hand-written: a few lines, and the
    library options (connected components, agglomerative) either chain or need a full distance matrix."""
    adj: dict[int, dict[int, tuple[float, str]]] = defaultdict(dict)
    for a, b, sim, m in pairs:
        for x, y in ((a, b), (b, a)):
            if y not in adj[x] or adj[x][y][0] < sim:
                adj[x][y] = (sim, m)
    order = sorted(adj, key=lambda r: (-completeness(items[r])[0], -len(adj[r]), -completeness(items[r])[1], r))
    done: set[int] = set()
    out = []
    for c in order:
        if c in done:
            continue
        mem = [y for y in sorted(adj[c]) if y not in done]
        if not mem:
            continue
        done.update([c, *mem])
        prs = [(items[c].item_id, items[y].item_id, round(float(adj[c][y][0]), 4), adj[c][y][1]) for y in mem]
        out.append(DuplicateCluster(0, items[c].item_id, [items[c].item_id] + [items[y].item_id for y in mem], prs))
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
    pairs: list[tuple[int, int, float, str]] = []
    by_text: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(toks):
        if t:
            by_text[" ".join(t)].append(i)
    for group in by_text.values():  # all pairs inside a group, so any member can be the canonical
        pairs += [(a, b, 1.0, "exact") for k, a in enumerate(group) for b in group[k + 1:]]
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
        if cfg.reject_substitutions and substituted(toks[a], toks[b]):
            continue
        pairs.append((a, b, s, m))
    clusters = _star_clusters(items, pairs)
    clusters.sort(key=lambda c: (-len(c.member_ids), c.canonical_id))
    for n, c in enumerate(clusters):
        c.cluster_id = n
    return clusters
