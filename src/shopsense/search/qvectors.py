"""The search engine's encoders and its query-vector cache, kept apart from engine.py (a mixin of
`SearchEngine`) so the engine module stays about building, updating and querying the indexes."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from shopsense.search.retrieve import dense_text


class QueryVectors:
    """Item and query encoders of a `SearchEngine` (`encoder`, the cached item path, the fast single-query path)
    and the in-memory LRU of query vectors and token vectors (`config.query_cache` entries)."""

    @property
    def encoder(self):
        if self._encoder is None:
            from shopsense.text.encoder import get_encoder

            self._encoder = get_encoder(self.text_config)
        return self._encoder

    def _item_encoder(self):
        if self.cache_dir is None:
            return self.encoder
        from shopsense.text.cache import CachedEncoder

        return CachedEncoder(self.encoder, self.cache_dir / self.encoder.name.replace("/", "_"))

    def _token_encoder(self):
        """Titles' token vectors for `index.tokens`, through the on-disk cache when there is one."""
        if self.cache_dir is None:
            return self.encoder
        from shopsense.text.cache import CachedTokens

        return CachedTokens(self.encoder, self.cache_dir / (self.encoder.name.replace("/", "_") + "-tokens"))

    @property
    def query_encoder(self):
        """The encoder's fast single-query path (see `text.onnx_query`); the encoder itself for hashing."""
        if self._qencoder is None:
            from shopsense.text.onnx_query import query_encoder

            onnx_dir = self.cache_dir / "onnx" if self.cache_dir else None
            self._qencoder = query_encoder(self.encoder, self.config.query_runtime, onnx_dir, self.config.query_threads,
                                           self.config.query_precision)
        return self._qencoder

    def query_vector(self, text: str) -> np.ndarray:
        v = self.cached_query_vector(text)
        if v is None:
            if self.tokens is not None:  # the re-ranker will want the token vectors too: one pass for both
                from shopsense.text.onnx_query import encode_with_tokens

                vecs, toks = encode_with_tokens(self.query_encoder, [text])
                v = vecs[0]
                self.remember_query_tokens(text, toks[0])
            else:
                v = self.query_encoder.encode([text])[0]
            self.remember_query_vector(text, v)
        return v

    @property
    def query_encoder_with_tokens(self):
        """For the server's batcher: (vector, token vectors) per text in one pass."""
        if self._qboth is None:
            from shopsense.text.onnx_query import WithTokens

            self._qboth = WithTokens(self)
        return self._qboth

    def cached_query_vector(self, text: str) -> np.ndarray | None:
        v = self._qcache.get(text)
        if v is not None:
            self._qcache.move_to_end(text)
        return v

    def remember_query_vector(self, text: str | tuple[str, str], v: np.ndarray) -> None:
        if self.config.query_cache:
            self._qcache[text] = v
            if len(self._qcache) > self.config.query_cache:
                self._qcache.popitem(last=False)

    def query_tokens(self, text: str) -> np.ndarray:
        """`text`'s token vectors (the re-ranker's soft term match), through the query encoder; kept in the
        query cache beside the vectors, and the last query's even with that cache off."""
        if self._last_tokens is not None and self._last_tokens[0] == text:
            return self._last_tokens[1]
        t = self._qcache.get(("tokens", text))
        if t is None:
            t = self.query_encoder.encode_tokens([text])[0]  # token vectors exist only for encoders that have it
            self.remember_query_tokens(text, t)
        return t

    def remember_query_tokens(self, text: str, t: np.ndarray) -> None:
        self._last_tokens = (text, t)
        self.remember_query_vector(("tokens", text), t)

    def dense_query(self, query: str, understand: bool | None = None, mode: str | None = None) -> str | None:
        """The text `search(query)` would encode, so a caller can encode many requests' queries in one
        batch (the server does) and pass the vector in; None when no vector is needed."""
        if (mode or self.config.mode) == "bm25" or self.vector is None or len(self) == 0:
            return None
        return dense_text(self.parse(query, understand))

    def encode_queries(self, texts: Sequence[str], progress: bool = False) -> None:
        """Batch-encode many query texts into the in-memory cache (benchmarks, warm-up)."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._qcache]
        if todo:
            vecs = self._item_encoder().encode(todo, progress=progress)
            for t, v in zip(todo, vecs):
                self._qcache[t] = v
        todo = [t for t in dict.fromkeys(texts) if ("tokens", t) not in self._qcache] if self.tokens else []
        if todo:
            for t, v in zip(todo, self.encoder.encode_tokens(todo, progress=progress)):
                self._qcache[("tokens", t)] = v
