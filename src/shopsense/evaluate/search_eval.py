"""Search evaluation on graded judgments: NDCG@10, MRR@10, Recall@100 per retriever.

Protocol (the shared Home Depot one): gain = relevance - `gain_offset` (1..3 scale -> 0..2);
unjudged results gain 0; relevant = relevance >= `relevant_at` for MRR and Recall. NDCG is averaged
over queries with at least one positive gain, MRR/Recall over queries with at least one relevant
result (queries without any are counted in `n_*` so nothing is hidden).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from shopsense.errors import DataError
from shopsense.evaluate.metrics import mrr_at_k, ndcg_at_k, recall_at_k


@dataclass
class SearchEvalResult:
    name: str
    ndcg: float
    mrr: float
    recall: float
    n_queries: int
    n_ndcg: int
    n_relevant: int
    per_query: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    k: tuple[int, int, int] = (10, 10, 100)

    def row(self) -> dict[str, float | int | str]:
        return {"retriever": self.name, f"NDCG@{self.k[0]}": round(self.ndcg, 4), f"MRR@{self.k[1]}": round(self.mrr, 4),
                f"Recall@{self.k[2]}": round(self.recall, 4), "queries": self.n_queries}


def evaluate_rankings(rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, float]], *,
                      name: str = "run", gain_offset: float = 1.0, relevant_at: float = 2.5,
                      k_ndcg: int = 10, k_mrr: int = 10, k_recall: int = 100) -> SearchEvalResult:
    """Score ranked id lists (`rankings[qid]`) against graded labels (`qrels[qid][id] = relevance`)."""
    if not qrels:
        raise DataError("no judged queries to evaluate", hint="pass qrels as {query_id: {item_id: relevance}}")
    per: dict[str, dict[str, float]] = {}
    nd, mr, rc = [], [], []
    for qid, labels in qrels.items():
        ranked = list(rankings.get(qid, []))
        gains = {i: r - gain_offset for i, r in labels.items() if r - gain_offset > 0}
        rel = {i for i, r in labels.items() if r >= relevant_at}
        m: dict[str, float] = {}
        if gains:
            m["ndcg"] = ndcg_at_k(ranked, gains, k_ndcg)
            nd.append(m["ndcg"])
        if rel:
            m["mrr"] = mrr_at_k(ranked, rel, k_mrr)
            m["recall"] = recall_at_k(ranked, rel, k_recall)
            mr.append(m["mrr"])
            rc.append(m["recall"])
        per[qid] = m
    mean = lambda xs: float(np.mean(xs)) if xs else 0.0  # noqa: E731
    return SearchEvalResult(name, mean(nd), mean(mr), mean(rc), len(qrels), len(nd), len(mr), per,
                            (k_ndcg, k_mrr, k_recall))


def evaluate_retrievers(retrievers: Mapping[str, Callable[[str], Sequence[str]]], queries: Mapping[str, str],
                        qrels: Mapping[str, Mapping[str, float]], *, depth: int = 100, progress: bool = False,
                        **kw) -> list[SearchEvalResult]:
    """Run each retriever (query text -> ranked ids) on every judged query and score it.
    A retriever that raises on a query gets an empty ranking for it (counted, not hidden)."""
    out = []
    for name, fn in retrievers.items():
        runs: dict[str, list[str]] = {}
        it = [q for q in qrels if q in queries]
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc=f"eval {name}", leave=False)
        for qid in it:
            try:
                runs[qid] = list(fn(queries[qid]))[:depth]
            except Exception:  # noqa: BLE001 - a failing query scores zero, never aborts the run
                runs[qid] = []
        out.append(evaluate_rankings(runs, {q: qrels[q] for q in it}, name=name, **kw))
    return out


def markdown_table(results: Sequence[SearchEvalResult]) -> str:
    if not results:
        return ""
    rows = [r.row() for r in results]
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)
