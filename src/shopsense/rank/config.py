"""Settings of the rank stage: candidate sources, ranker, diversity, business rules, profiles."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shopsense.config import ComponentConfig

DEFAULT_RULE_WEIGHTS = {
    "rr_cf": 1.0, "rr_similar": 1.2, "rr_trending": 0.4, "rr_bought_together": 0.8, "rr_search": 1.0,
    "search_score": 1.0, "cat_affinity": 0.6, "brand_affinity": 0.3, "log_popularity": 0.05,
    "recent_category": 0.2, "n_sources": 0.1,
}


class LGBMConfig(ComponentConfig):
    """LightGBM LambdaMART over candidate features (trained from logged events)."""

    n_estimators: int = Field(100, ge=1)
    num_leaves: int = Field(15, ge=2)
    learning_rate: float = Field(0.05, gt=0)
    min_child_samples: int = Field(50, ge=1)
    min_queries: int = Field(50, ge=1, description="fewer training queries than this: keep the rule-based ranker")
    train_share: float = Field(0.5, gt=0, lt=1, description="users whose held-out event trains the ranker; "
                                                            "the others measure it (NDCG@10 on vs off)")
    max_users: int = Field(1500, ge=10, description="users sampled to build training queries (time bound)")
    seed: int = 0


class RankConfig(ComponentConfig):
    """Settings of the rank stage: candidates, ranker, diversity and business rules (applied in that order)."""

    sources: list[Literal["cf", "similar", "trending", "bought_together"]] = Field(
        default_factory=lambda: ["cf", "similar", "trending", "bought_together"],
        description="recommendation candidate sources, merged; a failing or empty source is skipped")
    n_candidates: int = Field(50, ge=1, le=2000, description="candidates taken from each source")
    cf_table: bool = Field(True, description="precompute every known user's top CF candidates with the model (batch) "
                                             "instead of scoring the whole catalog per request")
    search_candidates: int = Field(60, ge=1, le=1000, description="search hits re-ranked with the profile")
    similar_history: int = Field(5, ge=1, description="most recent items whose co-visit neighbours are candidates")
    ranker: Literal["auto", "rules", "lgbm"] = Field(
        "auto", description="auto = the learned ranker when one was trained and it beat the rule-based ranker on "
                            "held-out NDCG@10; lgbm = the learned one whenever trained; rules = never learned")
    rule_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_RULE_WEIGHTS))
    search_personal_weight: float = Field(0.15, ge=0, description="how much profile affinity moves search results")
    lgbm: LGBMConfig = Field(default_factory=LGBMConfig)
    # diversity
    mmr_lambda: float = Field(0.8, ge=0, le=1, description="MMR: 1 = pure relevance, 0 = pure novelty")
    category_cap: int | None = Field(4, ge=1, description="at most this many results per category (None = no cap)")
    recent_slots: int = Field(2, ge=0, description="recommendations keep at least this many items explained by the "
                                                   "shopper's latest item (similar / bought together) when there "
                                                   "are any, so a click shows in the next rail; 0 = off")
    # business rules
    exclude_purchased: bool = True
    exclude_out_of_stock: bool = Field(True, description="stock == 0 is dropped; unknown stock (None) is kept")
    blocked_categories: list[str] = Field(default_factory=list, description="category path prefixes never shown")
    pinned: dict[str, int] = Field(default_factory=dict, description="item_id -> 1-based position it is pinned to")
    boosts: dict[str, float] = Field(default_factory=dict, description="item_id -> score multiplier (e.g. 1.5)")
    # profiles
    profile_recent: int = Field(50, ge=1, description="recent events kept per user (session state)")
    event_weights: dict[str, float] = Field(
        default_factory=lambda: {"purchase": 4.0, "cart": 3.0, "click": 2.0, "view": 1.0, "rating": 2.0, "search": 0.0})
