"""shopsense.search"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from shopsense.config import ComponentConfig


class SearchConfig(ComponentConfig):
    """Settings of the search stage: candidates, fusion, query understanding, boosts."""

    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    fusion: Literal["weighted", "rrf"] = Field("weighted", description="picked by measurement on train")
    lexical_weight: float = Field(0.8, ge=0, le=1, description="weighted fusion: share of the BM25 score "
                                  "(0.8 measured best on Home Depot qrels_train; RRF was worse there)")
    fusion_norm: Literal["minmax", "max"] = "max"
    rrf_k: float = Field(60.0, gt=0)
    n_lexical: int = Field(100, ge=1, description="BM25 candidates fused")
    n_dense: int = Field(100, ge=1, description="vector candidates fused")
    min_dense_similarity: float = Field(0.2, ge=-1, le=1,
                                        description="vector hits below this cosine are dropped (noise); the result "
                                                    "set (total, facets) = BM25 matches + kept vector hits, filtered")
    understand: bool = Field(True, description="query understanding: typo fixes, price filters, category intent")
    typo_correction: bool = True
    price_filters: bool = True
    category_boost: float = Field(0.1, ge=0, description="added to the fused score x P(item's category | query)")
    intent_temperature: float = Field(0.05, gt=0)
    rerank: bool = Field(True, description="apply the learned re-ranker when one is fitted")
    rerank_depth: int = Field(100, ge=1)
    max_query_chars: int = Field(1000, ge=1)
    query_cache: int = Field(10000, ge=0, description="query embeddings kept in memory")
    query_runtime: Literal["onnx", "torch"] = Field(
        "onnx", description="how a transformer encoder encodes queries: onnx = the same network run by ONNX Runtime "
                            "(exported once, ~3x faster per query on CPU, same vectors); torch = eager PyTorch")
    query_precision: Literal["fp32", "int8"] = Field(
        "int8", description="onnx runtime only: int8 = the exported network quantised once (weights per channel): "
                            "~2x faster per query, NDCG@10 on Home Depot test within run noise (0.4476 vs 0.4481); "
                            "item vectors are never quantised")
    query_threads: int = Field(1, ge=1, description="ONNX Runtime threads per query (a server already runs "
                                                    "requests in parallel)")
