"""shopsense.search: product search (BM25 + MiniLM vectors, fused; query understanding; facets).

    from shopsense.search import SearchEngine, search
    engine = SearchEngine.build(items, cache_dir="var/embeddings")
    hits = search(engine, "cordless drill under 100", k=10)     # ItemList with per-item reasons
    res = engine.search("drill", facets=True)                    # SearchResult: items, total, facets, query
    engine.save("var/search/index"); engine = SearchEngine.load("var/search/index")

Names are resolved lazily so importing this package stays cheap (no numpy-heavy modules, no torch).
"""
from __future__ import annotations

from typing import Any

__all__ = ["SearchEngine", "SearchResult", "Filters", "search"]


def search(engine: Any, query: str, k: int = 10, filters: Any = None, **kw: Any):
    """Top-k results for `query` as an ItemList with reasons (see SearchEngine.search for options)."""
    return engine.search(query, k=k, filters=filters, **kw).items


def __getattr__(name: str) -> Any:
    if name in ("SearchEngine", "SearchResult"):
        from shopsense.search import engine

        return getattr(engine, name)
    if name == "Filters":
        from shopsense.index.catalog import Filters

        return Filters
    raise AttributeError(name)
