"""shopsense.recommend — every recommender behind one contract (see `base.Recommender`).

    from shopsense.recommend import TrendingRecommender, SimilarItemsRecommender, CFRecommender, \
        SequentialRecommender, HybridRecommender, load_recommender

Names resolve lazily: settings.py imports `shopsense.recommend.config` on every CLI start, and that must
not pull in the models.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Recommender": "base", "Context": "base",
    "TrendingRecommender": "trending", "PopularityRecommender": "trending",
    "SimilarItemsRecommender": "similar", "BoughtTogetherRecommender": "similar",
    "CFRecommender": "personal", "SequentialRecommender": "personal",
    "HybridRecommender": "coldstart",
    "load_recommender": "persist", "save_recommender": "persist",
    "RecommendConfig": "config", "TrendingConfig": "config", "SimilarConfig": "config", "CFConfig": "config",
    "SequentialConfig": "config",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'shopsense.recommend' has no attribute {name!r}")
    return getattr(importlib.import_module(f"shopsense.recommend.{mod}"), name)
