"""Every recommender passes the shared contract on the checkerboard data."""

from __future__ import annotations

from shopsense.recommend.config import CFConfig, RecommendConfig, SequentialConfig, SimilarConfig
from shopsense.recommend.coldstart import HybridRecommender
from shopsense.recommend.personal import CFRecommender, SequentialRecommender
from shopsense.recommend.similar import BoughtTogetherRecommender, SimilarItemsRecommender
from shopsense.recommend.trending import PopularityRecommender, TrendingRecommender
from shopsense.testing.recommend_contract import RecommenderContract
from shopsense.text.encoder import HashingEncoder

SMALL_SEQ = dict(dim=16, max_len=10, n_layers=1, dropout=0.1, epochs=60, batch_size=16, lr=1e-2,
                 holdout_last=False, seed=0)


class TestTrending(RecommenderContract):
    finds_withheld = False

    def make(self):
        return TrendingRecommender()


class TestPopularity(RecommenderContract):
    finds_withheld = False

    def make(self):
        return PopularityRecommender()


class TestSimilarItems(RecommenderContract):
    def make(self):
        return SimilarItemsRecommender(encoder=HashingEncoder())


class TestBoughtTogether(RecommenderContract):
    def make(self):
        return BoughtTogetherRecommender(SimilarConfig(event_types=None, text_weight=0.0, window=50))


class TestALS(RecommenderContract):
    def make(self):
        return CFRecommender(CFConfig(factors=8, iterations=15, regularization=0.01))


class TestBPR(RecommenderContract):
    withheld_k = 3
    min_hit_rate = 0.9

    def make(self):
        return CFRecommender(CFConfig(algorithm="bpr", factors=8, iterations=200, learning_rate=0.05))


class TestSequentialIdOnly(RecommenderContract):
    def make(self):
        return SequentialRecommender(SequentialConfig(text_features="none", **SMALL_SEQ), progress=False)


class TestSequentialFused(RecommenderContract):
    def make(self):
        return SequentialRecommender(SequentialConfig(text_features="attributes", **SMALL_SEQ), progress=False)


class TestSequentialTextEncoder(RecommenderContract):
    def make(self):
        return SequentialRecommender(SequentialConfig(text_features="encoder", **SMALL_SEQ),
                                     encoder=HashingEncoder(), progress=False)


class TestHybrid(RecommenderContract):
    def make(self):
        cfg = RecommendConfig(personal="cf", cf=CFConfig(factors=8, iterations=15, regularization=0.01))
        return HybridRecommender(cfg, encoder=HashingEncoder(), progress=False)
