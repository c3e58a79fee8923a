"""Settings of the quality stage: duplicates, missing-value fills, outliers, bot detection."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from shopsense.config import ComponentConfig


class DuplicateConfig(ComponentConfig):
    method: Literal["minhash", "embedding", "both"] = Field(
        "minhash", description="minhash: MinHash/LSH on title shingles; embedding: cosine of encoder vectors")
    fields: list[str] = Field(default_factory=lambda: ["title", "brand"],
                              description="item text fields compared (see text.itemtext.item_text)")
    jaccard_threshold: float = Field(0.7, gt=0, le=1, description="min estimated Jaccard of shingle sets")
    num_perm: int = Field(128, ge=16, le=1024)
    shingle: int = Field(3, ge=1, le=8, description="character n-gram size of the shingles")
    cosine_threshold: float = Field(0.95, gt=0, le=1, description="min cosine for embedding near-dups")
    require_same_codes: bool = Field(
        True, description="reject a pair whose tokens with digits (model numbers, sizes, colour codes) or "
                          "colour words differ: such pairs are product variants, not duplicates")
    reject_substitutions: bool = Field(
        True, description="reject a pair where each side has a word the other lacks that is not a misspelling "
                          "of one of the other's (Round vs Elongated toilet): a variant, not a duplicate")


class MissingConfig(ComponentConfig):
    fields: list[Literal["category", "brand"]] = Field(default_factory=lambda: ["category", "brand"])
    attributes: list[str] = Field(default_factory=list, description="attribute keys to fill too")
    k: int = Field(10, ge=1, le=200, description="neighbours voting for a fill")
    min_confidence: float = Field(0.5, ge=0, le=1, description="fills below this vote share are not proposed")


class OutlierConfig(ComponentConfig):
    fields: list[Literal["price", "rating"]] = Field(default_factory=lambda: ["price", "rating"])
    threshold: float = Field(3.5, gt=0, description="robust z (0.6745·|x−median|/MAD) above which a value is flagged")
    log_price: bool = Field(True, description="compare prices on a log scale (prices are multiplicative)")
    min_group: int = Field(8, ge=3, description="categories smaller than this fall back to their parent / the catalog")
    rating_range: tuple[float, float] = Field((0.0, 5.0), description="ratings outside are flagged as invalid")


class BotConfig(ComponentConfig):
    max_events_per_minute: float = Field(30.0, gt=0, description="rule: a user over this rate in any minute")
    min_median_gap_s: float = Field(1.0, ge=0, description="rule: median gap between a user's events below this")
    click_without_view_ratio: float = Field(0.8, gt=0, le=1)
    click_without_view_min: int = Field(5, ge=1)
    repeat_min_len: int = Field(6, ge=2, description="rule: a run of this many identical item steps …")
    repeat_min_users: int = Field(5, ge=2, description="… shared by at least this many users")
    burst_window_s: float = Field(3600.0, gt=0, description="rating-burst window per item")
    burst_min_ratings: int = Field(5, ge=2, description="min extreme ratings of one item inside a window")
    iforest: bool = Field(True, description="also score users with an IsolationForest on per-user features")
    iforest_flag_score: float = Field(0.65, gt=0, le=1,
                                      description="flag on the forest alone when its 0..1 score reaches this")
    seed: int = 0


class QualityConfig(ComponentConfig):
    """Settings of the quality stage (extended as the stage grows)."""

    duplicates: DuplicateConfig = Field(default_factory=DuplicateConfig)
    missing: MissingConfig = Field(default_factory=MissingConfig)
    outliers: OutlierConfig = Field(default_factory=OutlierConfig)
    bots: BotConfig = Field(default_factory=BotConfig)
    report_dir: str = Field("reports", description="HTML reports go to <data_dir>/<report_dir>/")
