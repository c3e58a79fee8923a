"""Model folders: ``model.json`` (kind, config, fingerprint, format) + ``.npy`` arrays + JSON vocabularies
(+ ``net.pt``, a torch state_dict, for the sequential model). No pickle: arrays load with
``allow_pickle=False`` and the state_dict with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from shopsense.errors import DataError, NotFittedError
from shopsense.types import Vocabulary


def _registry() -> dict[str, type]:
    from shopsense.recommend.coldstart import HybridRecommender
    from shopsense.recommend.personal import CFRecommender, SequentialRecommender
    from shopsense.recommend.similar import BoughtTogetherRecommender, SimilarItemsRecommender
    from shopsense.recommend.trending import PopularityRecommender, TrendingRecommender

    classes = [TrendingRecommender, PopularityRecommender, SimilarItemsRecommender, BoughtTogetherRecommender,
               CFRecommender, SequentialRecommender, HybridRecommender]
    return {c.kind: c for c in classes}


def save_npy(path: Path, name: str, arr: np.ndarray) -> None:
    np.save(path / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)


def load_npy(path: Path, name: str) -> np.ndarray:
    return np.load(path / f"{name}.npy", allow_pickle=False)


def save_recommender(rec, path: str | Path) -> Path:
    from shopsense.recommend.base import FORMAT_VERSION

    if not rec.fitted:
        raise NotFittedError(type(rec).__name__, "fit the recommender before saving it")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / "items.json").write_text(json.dumps({"ids": rec.item_vocab.to_json(), "meta": rec.item_meta}))
    (path / "users.json").write_text(json.dumps(rec.user_vocab.to_json()))
    save_npy(path, "history_flat", rec._hist_flat)
    save_npy(path, "history_offsets", rec._hist_off)
    save_npy(path, "popularity", rec.popularity)
    extra = rec._save_state(path)
    cfg = rec.config.model_dump(mode="json") if rec.config is not None else None
    meta = {"kind": rec.kind, "format_version": FORMAT_VERSION, "fingerprint": rec.fingerprint, "config": cfg,
            "exclude_seen": rec.exclude_seen, "n_items": rec.n_items, "n_users": len(rec.user_vocab), "extra": extra}
    (path / "model.json").write_text(json.dumps(meta, indent=1))  # written last: marks the folder complete
    return path


def load_recommender(path: str | Path):
    """Load any recommender saved with `.save(path)`."""
    from shopsense.recommend.base import FORMAT_VERSION

    path = Path(path)
    if not (path / "model.json").exists():
        raise NotFittedError(f"recommender at {path}", "no model.json there — run `shopsense train` first")
    meta: dict[str, Any] = json.loads((path / "model.json").read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise DataError(f"model format {meta.get('format_version')} is not {FORMAT_VERSION}", source=str(path),
                        hint="retrain with `shopsense train`")
    cls = _registry().get(meta["kind"])
    if cls is None:
        raise DataError(f"unknown recommender kind {meta['kind']!r}", source=str(path))
    cfg = cls.config_cls.model_validate(meta["config"]) if cls.config_cls and meta["config"] is not None else None
    rec = cls(cfg, exclude_seen=meta["exclude_seen"])
    items = json.loads((path / "items.json").read_text())
    rec.item_vocab, rec.item_meta = Vocabulary.from_json(items["ids"]), items["meta"]
    rec.user_vocab = Vocabulary.from_json(json.loads((path / "users.json").read_text()))
    rec._hist_flat, rec._hist_off = load_npy(path, "history_flat"), load_npy(path, "history_offsets")
    rec.popularity = load_npy(path, "popularity")
    rec._load_state(path, meta["extra"])
    rec.fingerprint, rec.fitted = meta["fingerprint"], True
    return rec
