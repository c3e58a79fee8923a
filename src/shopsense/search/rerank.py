"""Learned re-ranker: LightGBM LambdaRank over cheap per-(query, candidate) features (BM25, cosine,
ranks, term overlap, number matches). Trained on graded judgments of a *training* query split;
saved as LightGBM's text model inside JSON (no pickle)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from shopsense.errors import DataError, NotFittedError
from shopsense.text.normalize import words

if TYPE_CHECKING:  # pragma: no cover
    from shopsense.search.engine import SearchEngine
    from shopsense.search.retrieve import Candidates

# v1 features (kept first, same meaning) + v2: IDF-weighted coverage, missing-term IDF, phrase/position,
# surface-word and prefix coverage (typo/plural variants the stemmer misses), rapidfuzz ratios, number
# tokens the title has but the query lacks (a "2 in." query vs a "3 in." product), candidate-set context.
# v2 measured on a 1,000-query Home Depot train hold-out (benchmarks/results/search.md): see the bench log.
FEATURES = ["bm25", "bm25_rel", "bm25_rank", "cos", "cos_gap", "dense_rank", "overlap", "n_query_tokens",
            "doc_len", "numbers_matched", "last_token", "first_token", "fused", "boost", "bigrams", "first_pos",
            "idf_cov", "n_missing", "max_idf_missing", "sum_idf_q", "last_pos", "phrase", "raw_cov", "prefix_cov",
            "fz_token_set", "fz_partial", "fz_token_sort", "n_doc_numbers", "extra_numbers", "query_chars",
            "bm25_max", "cos_max", "position", "cos_rank",
            # v3 (eleventh session): the title's product-type word (`product_head`) against the query; chosen on
            # the Home Depot train hold-out, benchmarks/results/search.md
            "head_in_query", "head_pair", "head_from_end", "head_share",
            # v4 (twelfth session): soft term match of the query's and the title's contextual token vectors
            # (`index.tokens`), and the row's gap to the candidate set's best; NaN (missing) when the engine
            # keeps no token vectors
            "soft_recall", "soft_worst", "soft_precision", "soft_f", "soft_recall_gap", "soft_worst_gap",
            # v5 (twenty-third session): how well the candidate's nearest catalog items (`index.neighbours`) match
            # the query: their mean / best / cosine-weighted BM25 relative to the query's best, the share of them
            # with any match, the share that are candidates too, the share of query terms the candidate or one
            # of them holds, their mean cosine to it; NaN (missing) when the engine keeps no neighbour lists
            "nb_mean", "nb_max", "nb_wmean", "nb_pos", "nb_incand", "nb_cov", "nb_sim"]
SOFT = FEATURES.index("soft_recall")
NB = FEATURES.index("nb_mean")
# Features along which a better match must never score lower (+1) or higher (-1), for `Reranker.fit(monotone=
# True)`: more of the query's terms or weight in the title, a higher BM25 or cosine, a phrase hit. Our own
# prior, written by hand: unconstrained trees fitted on a few thousand queries do learn dips (a band of BM25
# scores ranked below lower ones; the test shows one), which a shop cannot explain to its buyers. On the Home
# Depot train queries (fine-tuned engine's dumped rows) the constraint read +0.0017 NDCG@10 on the hold-out
# (6 seeds) and +0.0007 / +0.0000 in 5-fold CV (extra trees / L2 + extra trees): a prior that costs nothing, not a
# measured gain (benchmarks/results/search.md, twenty-second session). The benchmark offers it as a grid setting
# and lets the hold-out choose.
MONOTONE = {"bm25": 1, "bm25_rel": 1, "cos": 1, "cos_gap": 1, "fused": 1, "overlap": 1, "idf_cov": 1,
            "raw_cov": 1, "soft_recall": 1, "soft_f": 1, "phrase": 1, "n_missing": -1, "max_idf_missing": -1}


def _is_num(t: str) -> bool:
    return t[:1].isdigit()


def _prefix_hits(missing: list[str], doc: list[str]) -> int:
    """How many of the query tokens the title lacks share a 4-character prefix with one of its tokens
    (drill/driller, galv/galvanized): a token t (3+ chars) hits a title token x (3+ chars) when one
    starts with the other's first four characters. Asked with prefix sets built once per title rather
    than a scan of the title per missing token (that scan was a quarter of the feature time)."""
    if not missing:
        return 0
    p4 = {x[:4] for x in doc if len(x) >= 4}
    p3 = {x[:3] for x in doc if len(x) >= 3}
    whole3 = {x for x in doc if len(x) == 3}
    return sum(1 for t in missing
               if (len(t) >= 4 and (t[:4] in p4 or t[:3] in whole3)) or (len(t) == 3 and t in p3))


def features(engine: "SearchEngine", cand: "Candidates", idx: np.ndarray, query: str = "",
             soft: bool = True) -> np.ndarray:
    """Feature matrix (len(idx), len(FEATURES)) for candidates `idx` of `cand` (in their current order);
    `query` is the shopper's raw text (surface-word coverage and fuzzy ratios). `soft=False` leaves the soft
    term-match columns missing (for a re-ranker that does not read them: ~1 ms a query saved)."""
    from rapidfuzz import fuzz, process

    q = cand.tokens
    uq = list(dict.fromkeys(q))
    quset = set(uq)
    idf = engine.lexical.idf
    qidf = [idf(t) for t in uq]
    sidf = sum(qidf) or 1.0
    qnum = [t for t in uq if _is_num(t)]
    bigr = set(zip(q, q[1:]))
    qlow = query.lower()
    rws = set(words(query)) if query else set()
    lmax = float(cand.lex.max()) if len(cand.lex) else 0.0
    cmax = float(cand.cos.max()) if len(cand.cos) else 0.0
    idx = np.asarray(idx)
    X = np.zeros((len(idx), len(FEATURES)), np.float32)
    docs, texts, surface, heads = engine.lexical.docs, engine.lex_texts, engine.surface, engine.heads
    qpos = {t: p for p, t in enumerate(q)}  # each query token's last position
    tlows = [texts[int(cand.rows[i])].lower() for i in idx.tolist()]
    fz = (np.stack([process.cdist([qlow], tlows, scorer=sc, workers=1)[0]
                    for sc in (fuzz.token_set_ratio, fuzz.partial_ratio, fuzz.token_sort_ratio)], 1)
          if len(tlows) else np.zeros((0, 3)))
    for j, i in enumerate(idx.tolist()):
        row = int(cand.rows[i])
        d = docs[row]
        ds = set(d)
        hit = [t in ds for t in uq]
        miss = [w for w, h in zip(qidf, hit) if not h]
        first = next((p for p, t in enumerate(d) if t in quset), len(d))
        last = d.index(q[-1]) / max(1, len(d)) if q and q[-1] in ds else -1.0
        phrase = float(len(q) > 1 and not miss and any(d[s:s + len(q)] == q for s in range(len(d) - len(q) + 1)))
        dnum = [t for t in d if t[:1].isdigit()]  # _is_num, inlined: ~8 per title, 100 titles a query
        hd, hd2 = heads[row]  # the title's product-type word and its modifier
        X[j, :SOFT] = (cand.lex[i], cand.lex[i] / lmax if lmax > 0 else 0.0,
                      cand.lex_rank[i] if cand.lex_rank[i] > 0 else 1000, cand.cos[i], cand.cos[i] - cmax,
                      cand.dense_rank[i] if cand.dense_rank[i] > 0 else 1000,
                      sum(hit) / len(uq) if uq else 0.0, len(uq), len(d),
                      sum(t in ds for t in qnum) / len(qnum) if qnum else -1.0,
                      float(q[-1] in ds) if q else 0.0, float(q[0] in ds) if q else 0.0,
                      cand.fused[i], cand.boost[i],
                      len(bigr & set(zip(d, d[1:]))) / len(bigr) if bigr else -1.0,
                      first / max(1, len(d)),
                      sum(w for w, h in zip(qidf, hit) if h) / sidf, len(miss), max(miss) if miss else 0.0, sidf,
                      last, phrase, len(rws.intersection(surface[row])) / len(rws) if rws else 0.0,
                      _prefix_hits([t for t, h in zip(uq, hit) if not h], d) / len(uq) if uq else 0.0,
                      fz[j, 0], fz[j, 1], fz[j, 2],
                      len(dnum), sum(t not in quset for t in dnum), len(query), lmax, cmax, j, 0.0,
                      (float(hd in quset) if hd else -1.0), float(bool(hd2) and hd2 in quset and hd in quset),
                      (len(q) - 1 - qpos[hd]) if hd in qpos else -1.0, 0.0)
    if len(X):
        c = X[:, FEATURES.index("cos")]
        X[:, FEATURES.index("cos_rank")] = np.argsort(np.argsort(-c, kind="stable"), kind="stable")
        # how many of the first ten candidates are of a product type the query names: a query-level context
        # for the row's own head match (a title of another type ranks differently when most of them match)
        X[:, FEATURES.index("head_share")] = float(np.mean(X[:10, FEATURES.index("head_in_query")] > 0))
        if soft and engine.tokens is not None and cand.qtext:
            m = engine.tokens.match(engine.query_tokens(cand.qtext), cand.rows[idx])
            X[:, SOFT:SOFT + 4] = m
            X[:, SOFT + 4:SOFT + 6] = m[:, :2] - m[:, :2].max(0)
        else:
            X[:, SOFT:SOFT + 6] = np.nan
        X[:, NB:] = _neighbour_features(engine, cand, idx, uq)
    return X


def _neighbour_features(engine: "SearchEngine", cand: "Candidates", idx: np.ndarray, uq: list[str]) -> np.ndarray:
    """The v5 columns (see FEATURES): a gather over the (rows, k) neighbour table, one pass over the
    query's BM25 scores of the whole catalog, which retrieval computed anyway."""
    out = np.full((len(idx), len(FEATURES) - NB), np.nan, np.float32)
    nbi = engine.neighbours
    if nbi is None or cand.lex_all is None or not len(idx):
        return out
    rows = cand.rows[idx]
    nbr, sims = nbi.rows[rows], nbi.sims[rows]
    ok = nbr >= 0
    cnt = ok.sum(1)
    safe = np.maximum(cnt, 1)
    top = float(cand.lex_all.max()) if len(cand.lex_all) else 0.0
    s = np.where(ok, cand.lex_all[np.maximum(nbr, 0)], 0.0) / (top if top > 0 else 1.0)
    w = np.where(ok, np.maximum(sims, 0.0), 0.0)
    out[:, 0] = s.sum(1) / safe
    out[:, 1] = s.max(1)
    out[:, 2] = (s * w).sum(1) / np.maximum(w.sum(1), 1e-9)
    out[:, 3] = ((s > 0) & ok).sum(1) / safe
    out[:, 4] = (np.isin(nbr, rows) & ok).sum(1) / safe
    if uq:  # query terms the candidate lacks but a neighbour holds count as covered
        sets = engine.lexical.doc_sets
        for j, (r, nb) in enumerate(zip(rows.tolist(), nbr.tolist())):
            miss = [t for t in uq if t not in sets[r]]
            if miss:
                held = [n for n in nb if n >= 0]
                miss = [t for t in miss if not any(t in sets[n] for n in held)]
            out[j, 5] = 1.0 - len(miss) / len(uq)
    out[:, 6] = np.where(ok, sims, 0.0).sum(1) / safe
    out[cnt == 0] = np.nan
    return out


class Reranker:
    """LightGBM LambdaRank model over a subset of `FEATURES` (all of them by default). The names it was
    fitted on are saved with it, so a model fitted on an older, shorter feature list keeps loading and
    scoring after features are added (it reads its own columns of the full matrix).

    `bags` > 1 fits that many models that differ only in their seed (feature sampling) and averages
    their scores: one model's NDCG@10 moves by up to ±0.004 with the seed on the Home Depot hold-out.
    A bag of five beat every single seed on a stock-encoder engine, but not on the fine-tuned one the
    bench ships (benchmarks/results/search.md), so the default stays one model."""

    def __init__(self, model_str: str | Sequence[str] | None = None, params: dict | None = None,
                 features: Sequence[str] | None = None) -> None:
        self.models = [model_str] if isinstance(model_str, str) else list(model_str or [])
        self.params = params or {}
        self.features = list(features or FEATURES)
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise DataError(f"re-ranker features {unknown} are not computed by this version",
                            hint=f"known features: {FEATURES}")
        self._cols = np.array([FEATURES.index(f) for f in self.features])
        self.uses_soft = any(f.startswith("soft_") for f in self.features)
        self._boosters: list = []

    @property
    def boosters(self) -> list:
        if not self.models:
            raise NotFittedError("the re-ranker", "call Reranker.fit(X, y, groups) on training_rows(...) first")
        if not self._boosters:
            import lightgbm as lgb

            self._boosters = [lgb.Booster(model_str=m) for m in self.models]
        return self._boosters

    def _select(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(FEATURES):
            raise DataError(f"re-ranker input must have {len(FEATURES)} columns (FEATURES), got {X.shape}")
        return X if len(self._cols) == len(FEATURES) and (self._cols == np.arange(len(FEATURES))).all() \
            else X[:, self._cols]

    def fit(self, X: np.ndarray, y: np.ndarray, groups: Sequence[int], *, n_estimators: int = 300,
            learning_rate: float = 0.05, num_leaves: int = 31, max_label: int = 6, seed: int = 0,
            objective: str = "lambdarank", min_data_in_leaf: int = 50, bags: int = 1, lambda_l2: float = 0.0,
            extra_trees: bool = False, feature_fraction: float = 0.9, bagging_fraction: float = 1.0,
            monotone: bool = False) -> "Reranker":
        """X has all `FEATURES` columns (from `training_rows`); the model uses `self.features`.
        `objective`: LightGBM's "lambdarank" or "rank_xendcg" (both optimise NDCG). `bags`: models
        averaged, seeds `seed`, `seed + 1`, ... `lambda_l2` (L2 penalty on leaf values) and `extra_trees`
        (random split thresholds) regularise the trees: both raised cross-validated NDCG@10 on the Home Depot
        train queries (benchmarks/results/search.md, seventeenth session). `feature_fraction` (columns each
        tree sees) and `bagging_fraction` (rows each tree sees, redrawn every round) add randomness on top.
        `monotone`: the score may only rise with the features of `MONOTONE` (fall for the -1 ones), every other
        feature held fixed (LightGBM's monotone constraints, "advanced" method)."""
        import lightgbm as lgb

        if len(X) == 0:
            raise DataError("no training rows for the re-ranker", hint="pass queries with judged results")
        if objective not in ("lambdarank", "rank_xendcg"):
            raise DataError(f"unknown re-ranker objective {objective!r}", hint="use lambdarank or rank_xendcg")
        if bags < 1:
            raise DataError(f"re-ranker bags must be at least 1, got {bags}")
        if lambda_l2 < 0:
            raise DataError(f"re-ranker lambda_l2 must be >= 0, got {lambda_l2}", hint="pass 0 for no L2 penalty")
        for name, v in (("feature_fraction", feature_fraction), ("bagging_fraction", bagging_fraction)):
            if not 0 < v <= 1:
                raise DataError(f"re-ranker {name} must be in (0, 1], got {v}", hint="pass 1.0 to use all")
        self.params = {"objective": objective, "metric": "ndcg", "ndcg_eval_at": [10],
                       "label_gain": [i / 3 for i in range(max_label + 1)], "learning_rate": learning_rate,
                       "num_leaves": num_leaves, "min_data_in_leaf": min_data_in_leaf,
                       "feature_fraction": float(feature_fraction),
                       "lambdarank_truncation_level": 20, "verbose": -1, "seed": seed, "num_threads": 2}
        if lambda_l2:
            self.params["lambda_l2"] = float(lambda_l2)
        if extra_trees:
            self.params["extra_trees"] = True
        if bagging_fraction < 1:
            self.params.update(bagging_fraction=float(bagging_fraction), bagging_freq=1)
        if monotone:
            self.params.update(monotone_constraints=[MONOTONE.get(f, 0) for f in self.features],
                               monotone_constraints_method="advanced")
        ds = lgb.Dataset(self._select(X), label=y, group=[int(x) for x in groups], feature_name=self.features,
                         free_raw_data=False)
        self._boosters = [lgb.train({**self.params, "seed": seed + k}, ds, num_boost_round=n_estimators)
                          for k in range(bags)]
        self.models = [b.model_to_string() for b in self._boosters]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        boosters = self.boosters
        if len(X) == 0:
            return np.zeros(0)
        Xs = self._select(X)
        out = np.asarray(boosters[0].predict(Xs, num_threads=1), np.float64)
        for b in boosters[1:]:
            out += b.predict(Xs, num_threads=1)
        return out / len(boosters)

    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if not self.models:
            raise NotFittedError("the re-ranker")
        (folder / "reranker.json").write_text(json.dumps({"features": self.features, "params": self.params,
                                                          "models": self.models}))

    @classmethod
    def load(cls, folder: str | Path) -> "Reranker":
        p = Path(folder) / "reranker.json"
        if not p.exists():
            raise DataError(f"no re-ranker in {folder}")
        meta = json.loads(p.read_text())
        return cls(meta["models"] if "models" in meta else meta["model"], meta["params"], meta["features"])


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
        Xs.append(features(engine, cand, order, parsed.raw))
        ys.append(y)
        groups.append(len(order))
    if not Xs:
        return np.zeros((0, len(FEATURES)), np.float32), np.zeros(0), []
    return np.concatenate(Xs), np.concatenate(ys), groups
