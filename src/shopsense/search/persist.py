"""Saving a `SearchEngine` to a folder and loading it back (no pickles: every index writes .npy + JSON).
Kept apart from engine.py so the engine module stays about building, updating and querying."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shopsense.errors import DataError
from shopsense.index.catalog import Catalog
from shopsense.index.config import IndexConfig
from shopsense.index.lexical import LexicalIndex
from shopsense.index.neighbours import NeighbourIndex
from shopsense.index.tokens import TokenIndex
from shopsense.index.vector import VectorIndex
from shopsense.search.config import SearchConfig
from shopsense.search.intent import CategoryIntent
from shopsense.text.config import TextConfig
from shopsense.types import Vocabulary

if TYPE_CHECKING:  # pragma: no cover
    from shopsense.search.engine import SearchEngine

FORMAT = 1


def save_engine(eng: "SearchEngine", folder: str | Path) -> Path:
    """Write `eng` to `folder`: one sub-folder per index (.npy + JSON), items.json, engine.json."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    eng.lexical.save(folder / "lexical")
    if eng.vector is not None:
        eng.vector.save(folder / "vector")
    eng.catalog.save(folder / "catalog")
    if eng.intent is not None:
        eng.intent.save(folder / "intent")
    if eng.tokens is not None:
        eng.tokens.save(folder / "tokens")
    if eng.neighbours is not None:
        eng.neighbours.save(folder / "neighbours")
    if eng.reranker is not None:
        eng.reranker.save(folder / "reranker")
    np.save(folder / "alive.npy", eng.alive)
    (folder / "items.json").write_text(json.dumps({"ids": eng.ids.to_json(), "hashes": eng.hashes,
                                                   "lex_texts": eng.lex_texts, "heads": eng.heads}))
    (folder / "engine.json").write_text(json.dumps({
        "format": FORMAT, "fingerprint": eng.fingerprint(), "encoder": eng.encoder.name,
        "text": eng.text_config.model_dump(mode="json"), "index": eng.index_config.model_dump(mode="json"),
        "search": eng.config.model_dump(mode="json")}, indent=1))
    return folder


def load_engine(cls: type["SearchEngine"], folder: str | Path, encoder=None, cache_dir: str | Path | None = None,
                search: SearchConfig | None = None) -> "SearchEngine":
    """An engine saved by `save_engine` (older formats' missing settings get the values they were built with)."""
    folder = Path(folder)
    meta_p = folder / "engine.json"
    if not meta_p.exists():
        raise DataError(f"no search index in {folder}", hint="run `shopsense search-index` or SearchEngine.build(...).save()")
    meta = json.loads(meta_p.read_text())
    if meta.get("format") != FORMAT:
        raise DataError(f"search index in {folder} has format {meta.get('format')}, expected {FORMAT}",
                        hint="rebuild the index")
    meta["index"].setdefault("ann_dtype", "f32")  # saved before the setting: f32 graphs
    meta["index"].setdefault("token_dims", 0)  # saved before token vectors: none (not just for new items)
    meta["index"].setdefault("neighbours", 0)  # saved before neighbour lists: none
    eng = cls(TextConfig.model_validate(meta["text"]), IndexConfig.model_validate(meta["index"]),
              search or SearchConfig.model_validate(meta["search"]), encoder, cache_dir)
    if encoder is not None and encoder.name != meta["encoder"]:
        raise DataError(f"index was built with encoder {meta['encoder']!r}, not {encoder.name!r}",
                        hint="load with the same encoder or rebuild the index")
    data = json.loads((folder / "items.json").read_text())
    eng.ids, eng.hashes, eng.lex_texts = Vocabulary(data["ids"]), data["hashes"], data["lex_texts"]
    eng.alive = np.load(folder / "alive.npy")
    eng.lexical = LexicalIndex.load(folder / "lexical")
    if (folder / "vector").exists():
        eng.vector = VectorIndex.load(folder / "vector")
    eng.catalog = Catalog.load(folder / "catalog")
    if (folder / "intent").exists():
        eng.intent = CategoryIntent.load(folder / "intent")
    if (folder / "tokens").exists():
        eng.tokens = TokenIndex.load(folder / "tokens")
    if (folder / "neighbours").exists():
        eng.neighbours = NeighbourIndex.load(folder / "neighbours")
    if (folder / "reranker").exists():
        from shopsense.search.rerank import Reranker

        eng.reranker = Reranker.load(folder / "reranker")
    eng.surface = [eng._vocab_update(t, +1) if a else () for t, a in zip(eng.lex_texts, eng.alive)]
    # saved before product heads were kept: read them off the lexical text, which starts with the title
    eng.heads = ([tuple(h) for h in data["heads"]] if "heads" in data
                 else [eng._head(t) if a else ("", "") for t, a in zip(eng.lex_texts, eng.alive)])
    return eng
