"""Learned re-ranker: LightGBM LambdaRank over cheap per-(query, candidate) features (BM25, cosine,
ranks, term overlap, number matches). Trained on graded judgments of a *training* query split;
saved as LightGBM's text model inside JSON (no pickle)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from shopsense.errors import DataError, NotFittedError

if TYPE_CHECKING:  # pragma: no cover
    from shopsense.search.engine import SearchEngine
    from shopsense.search.retrieve import Candidates

FEATURES = ["bm25", "bm25_rel", "bm25_rank", "cos", "cos_gap", "dense_rank", "overlap", "n_query_tokens",
            "doc_len", "numbers_matched", "last_token", "first_token", "fused", "boost", "bigrams", "first_pos"]


def _is_num(t: str) -> bool:
    return t[:1].isdigit()


def features(engine: "SearchEngine", cand: "Candidates", idx: np.ndarray) -> np.ndarray:
    """Feature matrix (len(idx), len(FEATURES)) for candidates `idx` of `cand`."""
    q = cand.tokens
    uq = list(dict.fromkeys(q))
    qnum = [t for t in uq if _is_num(t)]
    bigr = set(zip(q, q[1:]))
    lmax = float(cand.lex.max()) if len(cand.lex) else 0.0
    cmax = float(cand.cos.max()) if len(cand.cos) else 0.0
    X = np.zeros((len(idx), len(FEATURES)), np.float32)
    docs = engine.lexical.docs
    for j, i in enumerate(np.asarray(idx).tolist()):
        d = docs[int(cand.rows[i])]
        ds = set(d)
        hit = [t in ds for t in uq]
        first = next((p for p, t in enumerate(d) if t in set(uq)), len(d))
        X[j] = (cand.lex[i], cand.lex[i] / lmax if lmax > 0 else 0.0,
                cand.lex_rank[i] if cand.lex_rank[i] > 0 else 1000, cand.cos[i], cand.cos[i] - cmax,
                cand.dense_rank[i] if cand.dense_rank[i] > 0 else 1000,
                sum(hit) / len(uq) if uq else 0.0, len(uq), len(d),
                sum(t in ds for t in qnum) / len(qnum) if qnum else -1.0,
                float(q[-1] in ds) if q else 0.0, float(q[0] in ds) if q else 0.0,
                cand.fused[i], cand.boost[i],
                len(bigr & set(zip(d, d[1:]))) / len(bigr) if bigr else -1.0,
                first / max(1, len(d)))
    return X


class Reranker:
    def __init__(self, model_str: str | None = None, params: dict | None = None) -> None:
        self.model_str = model_str
        self.params = params or {}
        self._booster = None

    @property
    def booster(self):
        if self.model_str is None:
            raise NotFittedError("the re-ranker", "call Reranker.fit(...) or fit_reranker(engine, ...) first")
        if self._booster is None:
            import lightgbm as lgb

            self._booster = lgb.Booster(model_str=self.model_str)
        return self._booster

    def fit(self, X: np.ndarray, y: np.ndarray, groups: Sequence[int], *, n_estimators: int = 300,
            learning_rate: float = 0.05, num_leaves: int = 31, max_label: int = 6, seed: int = 0) -> "Reranker":
        import lightgbm as lgb

        if len(X) == 0:
            raise DataError("no training rows for the re-ranker", hint="pass queries with judged results")
        self.params = {"objective": "lambdarank", "metric": "ndcg", "ndcg_eval_at": [10],
                       "label_gain": [i / 3 for i in range(max_label + 1)], "learning_rate": learning_rate,
                       "num_leaves": num_leaves, "min_data_in_leaf": 50, "feature_fraction": 0.9,
                       "lambdarank_truncation_level": 20, "verbose": -1, "seed": seed, "num_threads": 2}
        ds = lgb.Dataset(X, label=y, group=[int(x) for x in groups], feature_name=FEATURES)
        self._booster = lgb.train(self.params, ds, num_boost_round=n_estimators)
        self.model_str = self._booster.model_to_string()
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0)
        return np.asarray(self.booster.predict(X, num_threads=1), np.float64)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.model_str is None:
            raise NotFittedError("the re-ranker")
        (folder / "reranker.json").write_text(json.dumps({"features": FEATURES, "params": self.params,
                                                          "model": self.model_str}))

    @classmethod
    def load(cls, folder: str | Path) -> "Reranker":
        p = Path(folder) / "reranker.json"
        if not p.exists():
            raise DataError(f"no re-ranker in {folder}")
        meta = json.loads(p.read_text())
        if meta["features"] != FEATURES:
            raise DataError("saved re-ranker uses other features", hint="re-train it with this version")
        return cls(meta["model"], meta["params"])


def training_rows(engine: "SearchEngine", queries: dict[str, str], qrels: dict[str, dict[str, float]],
                  depth: int = 100, progress: bool = False):
    """(X, y, groups) from queries with graded labels (relevance 1..3 -> label round(3*(rel-1)));
    unjudged candidates get label 0. Queries whose candidates hold no positive label are skipped."""
    Xs, ys, groups = [], [], []
    it = queries.items()
    if progress:
        from tqdm import tqdm

        it = tqdm(it, total=len(queries), desc="re-ranker features")
    for qid, q in it:
        try:
            parsed = engine.parse(q)
        except DataError:
            continue
        cand = engine.candidates(parsed)
        order = np.argsort(-cand.score, kind="stable")[:depth]
        rel = qrels.get(qid, {})
        ids = engine.ids.ids
        y = np.array([int(round(3 * (rel.get(ids[int(cand.rows[i])], 1.0) - 1))) for i in order])
        if y.max(initial=0) <= 0:
            continue
        Xs.append(features(engine, cand, order))
        ys.append(y)
        groups.append(len(order))
    if not Xs:
        return np.zeros((0, len(FEATURES)), np.float32), np.zeros(0), []
    return np.concatenate(Xs), np.concatenate(ys), groups
