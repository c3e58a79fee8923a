"""BM25 lexical index over row numbers, backed by bm25s (sparse precomputed scores).

Updatable: `set_docs` adds or replaces rows and `remove` empties them. BM25's idf depends on the
whole corpus, so after a change the bm25s matrix is rebuilt lazily on the next query from the
stored token lists (no re-tokenising; ~1 s per 100k titles). Saved as a folder of .npy + JSON.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from shopsense.errors import DataError
from shopsense.index.config import IndexConfig
from shopsense.text.normalize import tokenize


class LexicalIndex:
    def __init__(self, config: IndexConfig | None = None) -> None:
        self.config = config or IndexConfig()
        self.docs: list[list[str]] = []  # stemmed tokens per row ([] = removed/empty)
        self._bm25 = None
        self._doc_sets: list[frozenset[str]] | None = None
        self._df: dict[str, int] | None = None
        self._n_nonempty = 0

    # -- tokenising -------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[str]:
        c = self.config
        return tokenize(text, c.stemmer, c.stopwords, c.normalize_units)

    # -- updates ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.docs)

    def set_docs(self, rows: Sequence[int], texts: Sequence[str]) -> None:
        if len(rows) != len(texts):
            raise DataError("rows and texts must have the same length")
        for r, t in zip(rows, texts):
            if r < 0:
                raise DataError(f"row {r} is negative")
            while len(self.docs) <= r:
                self.docs.append([])
            self.docs[r] = self.tokenize(t)
        self._bm25 = self._doc_sets = self._df = None

    def remove(self, rows: Sequence[int]) -> None:
        for r in rows:
            if 0 <= r < len(self.docs):
                self.docs[r] = []
        self._bm25 = self._doc_sets = self._df = None

    def _build(self):
        import bm25s

        c = self.config
        bm = bm25s.BM25(k1=c.bm25_k1, b=c.bm25_b, method=c.bm25_method)
        # an empty document would otherwise have no token at all; bm25s handles "" as empty token
        bm.index([d if d else [""] for d in self.docs] or [[""]], show_progress=False)
        self._bm25 = bm
        return bm

    @property
    def bm25(self):
        return self._bm25 if self._bm25 is not None else self._build()

    # -- queries ----------------------------------------------------------------------------
    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every row (float32, 0 where no query term occurs)."""
        n = len(self.docs)
        bm = self.bm25
        ids = bm.get_tokens_ids([t for t in query_tokens if t])
        if not ids or n == 0:
            return np.zeros(n, np.float32)
        return np.asarray(bm.get_scores_from_ids(ids), dtype=np.float32)[:n]

    @property
    def doc_sets(self) -> list[frozenset[str]]:
        """Each row's distinct tokens, built once and kept until the next change."""
        if self._doc_sets is None:
            self._doc_sets = [frozenset(d) for d in self.docs]
        return self._doc_sets

    def matched(self, row: int, query_tokens: Sequence[str]) -> list[str]:
        ds = self.doc_sets[row]
        return [t for t in dict.fromkeys(query_tokens) if t in ds]

    def doc_freq(self) -> dict[str, int]:
        df: dict[str, int] = {}
        for d in self.docs:
            for t in set(d):
                df[t] = df.get(t, 0) + 1
        return df

    def doc_count(self, token: str) -> int:
        """How many documents hold `token` (a stemmed token); counted once, kept until the next change."""
        if self._df is None:
            self._df = self.doc_freq()
            self._n_nonempty = sum(1 for d in self.docs if d)
        return self._df.get(token, 0)

    def idf(self, token: str) -> float:
        """BM25 (Lucene) idf of a token over the current documents; document frequencies are counted
        once and kept until the next change (the re-ranker asks for a few per query)."""
        df = self.doc_count(token)
        n = self._n_nonempty
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    # -- persistence ------------------------------------------------------------------------
    def save(self, folder: str | Path) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.bm25.save(str(folder / "bm25s"), allow_pickle=False, show_progress=False)
        (folder / "docs.json").write_text(json.dumps(self.docs))
        (folder / "config.json").write_text(self.config.model_dump_json())

    @classmethod
    def load(cls, folder: str | Path) -> "LexicalIndex":
        import bm25s

        folder = Path(folder)
        if not (folder / "docs.json").exists():
            raise DataError(f"no lexical index in {folder}", hint="build the search index first")
        idx = cls(IndexConfig.model_validate_json((folder / "config.json").read_text()))
        idx.docs = json.loads((folder / "docs.json").read_text())
        idx._bm25 = bm25s.BM25.load(str(folder / "bm25s"), load_corpus=False)
        return idx
