"""Candidate generation (BM25 + vector, under filters), fusion, category boost, ranking with reasons."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from shopsense.index.catalog import Filters
from shopsense.index.topk import top_positive
from shopsense.search.fusion import rrf, weighted
from shopsense.search.query import ParsedQuery
from shopsense.text.normalize import stem_words, words
from shopsense.types import ItemList

if TYPE_CHECKING:  # pragma: no cover
    from shopsense.search.engine import SearchEngine


@dataclass
class Candidates:
    rows: np.ndarray  # candidate rows (union of the retrievers' top lists)
    lex: np.ndarray  # BM25 score per candidate (0 = no term matched)
    cos: np.ndarray  # cosine query/item per candidate (0 when dense is off)
    lex_rank: np.ndarray  # 1-based rank in the BM25 list, 0 = not in it
    dense_rank: np.ndarray  # 1-based rank in the vector list, 0 = not in it
    fused: np.ndarray  # fused score (mode-dependent)
    boost: np.ndarray  # category-intent boost
    tokens: list[str]  # stemmed query tokens
    result_mask: np.ndarray  # full result set (matches a retriever, passes filters), over all rows
    mode: str = "hybrid"
    qvec: np.ndarray | None = None
    qtext: str = ""  # the text the query vector encodes (the re-ranker's soft term match reads its tokens)
    categories: dict[int, float] = field(default_factory=dict)
    lex_all: np.ndarray | None = None  # BM25 score of every row, before filters (the neighbour features read it)

    @property
    def score(self) -> np.ndarray:
        return self.fused + self.boost


def dense_text(parsed: ParsedQuery) -> str:
    return parsed.dense_text or parsed.text


def gather(engine: "SearchEngine", parsed: ParsedQuery, filters: Filters | None, mode: str,
           understand: bool, query_vector: np.ndarray | None = None) -> Candidates:
    c = engine.config
    f = parsed.filters.merged(filters) if filters is not None else parsed.filters
    parsed.filters = f
    mask = engine.catalog.mask(f, engine.alive) if not f.is_empty() else engine.alive
    toks = engine.lexical.tokenize(parsed.text)
    n = len(engine.alive)
    lex_rows = np.zeros(0, np.int64)
    s_lex = lex_all = None
    if mode in ("hybrid", "bm25"):
        s_lex = lex_all = engine.lexical.scores(toks)
        if mask is not engine.alive or not engine.alive.all():
            s_lex = np.where(mask, s_lex, 0.0).astype(np.float32)
        n_lex = c.n_lexical if mode == "hybrid" else max(c.n_lexical, c.rerank_depth)
        lex_rows = top_positive(s_lex, n_lex, engine.tie)
    qv = None
    d_rows, d_sims = np.zeros(0, np.int64), np.zeros(0, np.float32)
    if mode in ("hybrid", "dense") and engine.vector is not None:
        qv = query_vector if query_vector is not None else engine.query_vector(dense_text(parsed))
        d_rows, d_sims = engine.vector.search(qv, c.n_dense, mask, engine.tie)
        keep = d_sims >= c.min_dense_similarity
        d_rows, d_sims = d_rows[keep], d_sims[keep]
    rows = np.asarray(list(dict.fromkeys(np.concatenate([lex_rows, d_rows]).tolist())), np.int64)
    lex = s_lex[rows].astype(np.float64) if s_lex is not None else np.zeros(len(rows))
    cos = engine.vector.similarity(qv, rows).astype(np.float64) if qv is not None else np.zeros(len(rows))
    pos = {r: i for i, r in enumerate(rows.tolist())}
    lex_rank, dense_rank = np.zeros(len(rows), np.int64), np.zeros(len(rows), np.int64)
    lex_rank[[pos[r] for r in lex_rows.tolist()]] = np.arange(1, len(lex_rows) + 1)
    dense_rank[[pos[r] for r in d_rows.tolist()]] = np.arange(1, len(d_rows) + 1)
    result = np.zeros(n, bool)
    if s_lex is not None:
        result |= s_lex > 0
    result[d_rows] = True
    result &= mask
    if mode == "bm25":  # scaled to [0, 1] so the category boost means the same in every mode
        fused = lex / lex.max() if len(lex) and lex.max() > 0 else lex
    elif mode == "dense":
        fused = cos
    elif c.fusion == "rrf":
        fused = rrf([lex_rank, dense_rank], k=c.rrf_k)
    else:
        fused = weighted([lex, cos], [c.lexical_weight, 1 - c.lexical_weight], c.fusion_norm)
    boost = np.zeros(len(rows))
    cats: dict[int, float] = {}
    if understand and engine.intent is not None and c.category_boost > 0 and len(rows):
        p = engine.intent.predict(parsed.raw, qv)
        if p.any():
            codes = engine.catalog.category[rows]
            boost = np.where(codes >= 0, c.category_boost * p[np.maximum(codes, 0)], 0.0)
            for i in np.argsort(-p)[:3]:
                if p[i] > 0.01:
                    cats[int(i)] = float(p[i])
            parsed.category = [(engine.intent.paths[i], round(v, 4)) for i, v in cats.items()]
    return Candidates(rows, lex, cos, lex_rank, dense_rank, fused, boost, toks, result, mode, qv,
                      qtext=dense_text(parsed), categories=cats, lex_all=lex_all)


def rank(engine: "SearchEngine", parsed: ParsedQuery, cand: Candidates, k: int, reranker=None) -> ItemList:
    score = cand.score.copy()
    order = np.argsort(-score, kind="stable")
    reranked = None
    if reranker is not None and len(order):
        depth = order[: engine.config.rerank_depth]
        from shopsense.search.rerank import features

        pred = reranker.predict(features(engine, cand, depth, parsed.raw, soft=getattr(reranker, "uses_soft", True)))
        sub = np.argsort(-pred, kind="stable")
        reranked = dict(zip(depth[sub].tolist(), pred[sub].tolist()))
        order = np.concatenate([depth[sub], order[engine.config.rerank_depth:]])
    order = order[:k]
    surface = {}
    for w in words(parsed.text):
        for s in stem_words([w], engine.index_config.stemmer, engine.index_config.stopwords):
            surface.setdefault(s, w)
    # per-query parts of the reasons built once, per-candidate numbers read from lists: indexing numpy
    # arrays item by item was most of this loop's time (it explains every serving candidate, 60 a query)
    typo = {"source": "typo_correction", "corrections": dict(parsed.corrections)} if parsed.corrections else None
    filt = (None if parsed.filters.is_empty()
            else {"source": "filter", "filters": parsed.filters.model_dump(exclude_defaults=True)})
    method, hybrid = engine.config.fusion, cand.mode == "hybrid"
    rows_l, lex_rank, dense_rank = cand.rows.tolist(), cand.lex_rank.tolist(), cand.dense_rank.tolist()
    lex, cos, fused, boost, final_l = (a.tolist() for a in (cand.lex, cand.cos, cand.fused, cand.boost, score))
    cat_codes, paths, id_of = engine.catalog.category, engine.catalog.paths, engine.ids.ids
    ids, scores, reasons = [], [], []
    for i in order.tolist():
        row = rows_l[i]
        rs: list[dict] = []
        if lex_rank[i] > 0:
            m = engine.lexical.matched(row, cand.tokens)
            rs.append({"source": "bm25", "rank": lex_rank[i], "score": round(lex[i], 4),
                       "matched": [surface.get(t, t) for t in m]})
        if dense_rank[i] > 0:
            rs.append({"source": "dense", "rank": dense_rank[i], "cosine": round(cos[i], 4)})
        if hybrid:
            rs.append({"source": "fusion", "method": method, "score": round(fused[i], 4)})
        if boost[i] > 1e-4:
            rs.append({"source": "category_boost", "category": paths[int(cat_codes[row])], "boost": round(boost[i], 4)})
        if typo is not None:
            rs.append(dict(typo))
        if filt is not None:
            rs.append(dict(filt))
        final = final_l[i]
        if reranked is not None and i in reranked:
            final = float(reranked[i])
            rs.append({"source": "reranker", "score": round(final, 4)})
        ids.append(id_of[row])
        scores.append(final)
        reasons.append(rs)
    return ItemList(ids, np.asarray(scores), reasons)

