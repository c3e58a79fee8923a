"""shopsense.index"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from shopsense.config import ComponentConfig


class IndexConfig(ComponentConfig):
    """Settings of the lexical (BM25) and vector (ANN) indexes."""

    bm25_k1: float = Field(0.9, gt=0, description="BM25 term-frequency saturation (0.9/0.4 beat 1.2/0.75 on "
                                                  "Home Depot qrels_train titles)")
    bm25_b: float = Field(0.4, ge=0, le=1, description="BM25 length normalisation")
    bm25_method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] = "lucene"
    stemmer: str = Field("english", description="PyStemmer language, or 'none'")
    stopwords: bool = True
    normalize_units: bool = Field(True, description="canonical units: '1/2 in.' == '1/2-inch' == '1/2\"'")
    lexical_fields: list[str] = Field(default_factory=lambda: ["title", "brand", "category"],
                                      description="item fields the BM25 index covers")
    ann: Literal["usearch", "exact"] = Field("usearch", description="usearch HNSW, or exact (brute-force matmul)")
    ann_connectivity: int = Field(16, ge=4, le=128)
    ann_expansion_add: int = Field(128, ge=8)
    ann_expansion_search: int = Field(96, ge=8)
    ann_dtype: Literal["f32", "f16", "i8"] = Field(
        "i8", description="how the HNSW graph stores vectors; hits are re-scored exactly from the float vectors "
                          "(i8: search 0.92 -> 0.40 ms p50 on 109k Home Depot items, recall@100 unchanged)")
    ann_build_threads: int = Field(1, ge=0, description="threads adding vectors to the HNSW graph. 1: the same "
                                   "catalog builds the same graph, so rebuilds and benchmark runs give the same "
                                   "results; 0: every core, the graph adds ~1.8x faster on 2 cores, but graphs (and "
                                   "near-miss hits) differ from build to build")
    exact_below: float = Field(0.05, ge=0, le=1, description="filters keeping fewer than this share of the "
                                                             "catalog switch the vector search to exact")
    neighbours: int = Field(10, ge=0, le=100, description="keep each item's this many nearest catalog items "
                            "(encoder space) for the re-ranker's neighbour features: do similar items match the "
                            "query? (0: off; index.neighbours)")
    token_dims: int = Field(128, ge=0, le=1024, description="keep each title's contextual token vectors, projected "
                            "to this many principal components, for the re-ranker's soft term match (0: off; "
                            "128 of 384 matched the full vectors on the Home Depot hold-out)")
