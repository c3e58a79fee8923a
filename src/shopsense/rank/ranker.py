"""Rankers over the candidate features: rule-based (a weighted sum, always available) and LightGBM
LambdaMART (trained from logged events; saved in LightGBM's own text format + JSON metadata)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from shopsense.errors import DataError
from shopsense.rank.features import FEATURES


class RuleRanker:
    name = "rules"

    def __init__(self, weights: dict[str, float]) -> None:
        unknown = set(weights) - set(FEATURES)
        if unknown:
            raise DataError(f"unknown rank.rule_weights features {sorted(unknown)}", field="rule_weights",
                            hint=f"use {FEATURES}")
        self.w = np.array([weights.get(f, 0.0) for f in FEATURES])

    def score(self, X: np.ndarray) -> np.ndarray:
        return np.nan_to_num(X, nan=0.0) @ self.w

    def contributions(self, x: np.ndarray) -> dict[str, float]:
        v = np.nan_to_num(x, nan=0.0) * self.w
        return {f: round(float(c), 4) for f, c in zip(FEATURES, v) if c}


class LGBMRanker:
    name = "lgbm"

    def __init__(self, booster: Any, meta: dict[str, Any] | None = None) -> None:
        self.booster = booster
        self.meta = meta or {}

    @classmethod
    def train(cls, X: np.ndarray, y: np.ndarray, groups: list[int], cfg: Any) -> "LGBMRanker":
        import lightgbm as lgb

        params = {"objective": "lambdarank", "metric": "ndcg", "ndcg_eval_at": [10], "verbosity": -1,
                  "num_leaves": cfg.num_leaves, "learning_rate": cfg.learning_rate,
                  "min_child_samples": cfg.min_child_samples, "seed": cfg.seed, "num_threads": 1,
                  "deterministic": True, "force_row_wise": True}
        ds = lgb.Dataset(X, label=y, group=groups, feature_name=FEATURES, free_raw_data=True)
        booster = lgb.train(params, ds, num_boost_round=cfg.n_estimators)
        return cls(booster, {"n_queries": len(groups), "n_rows": int(len(y)), "features": FEATURES})

    def score(self, X: np.ndarray) -> np.ndarray:
        return self.booster.predict(X, num_threads=1)

    def contributions(self, x: np.ndarray) -> dict[str, float]:
        c = self.booster.predict(x[None, :], pred_contrib=True, num_threads=1)[0][:-1]
        return {f: round(float(v), 4) for f, v in zip(FEATURES, c) if abs(v) > 1e-6}

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(folder / "lgbm.txt"))
        (folder / "ranker.json").write_text(json.dumps({"kind": "lgbm", **self.meta}, indent=1))
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "LGBMRanker":
        import lightgbm as lgb

        folder = Path(folder)
        meta = json.loads((folder / "ranker.json").read_text())
        if meta.get("features") != FEATURES:
            raise DataError(f"ranker at {folder} was trained on other features", hint="run `shopsense retrain`")
        return cls(lgb.Booster(model_file=str(folder / "lgbm.txt")), meta)
