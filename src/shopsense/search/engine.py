"""`SearchEngine`: the lexical + vector indexes, catalog attributes, query understanding and fusion
behind one object that is built from Items, updated in place, saved to / loaded from a folder.

    engine = SearchEngine.build(items, text=TextConfig(), index=IndexConfig(), search=SearchConfig(),
                                cache_dir="var/embeddings")
    res = engine.search("cordless drill under 100", k=10, facets=True)   # SearchResult
    res.items  # ItemList with per-item reasons
    engine.save("var/search"); engine = SearchEngine.load("var/search")
"""

from __future__ import annotations

import hashlib
import sys
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from shopsense.errors import DataError, UnknownIdError
from shopsense.index.catalog import Catalog, Filters
from shopsense.index.config import IndexConfig
from shopsense.index.lexical import LexicalIndex
from shopsense.index.neighbours import NeighbourIndex
from shopsense.index.tokens import TokenIndex
from shopsense.index.topk import tie_keys
from shopsense.index.vector import VectorIndex
from shopsense.search.config import SearchConfig
from shopsense.search.intent import CategoryIntent, query_log_pairs
from shopsense.search.qvectors import QueryVectors
from shopsense.search.query import ParsedQuery, SpellCorrector, check_query, parse_query
from shopsense.search.retrieve import Candidates, gather, rank
from shopsense.text.config import TextConfig
from shopsense.text.itemtext import item_text
from shopsense.text.normalize import normalize, product_head, stem_words, words
from shopsense.types import Item, ItemList, Vocabulary


@dataclass
class SearchResult:
    items: ItemList
    query: ParsedQuery
    total: int  # size of the full (filtered) result set the facets describe
    facets: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query.to_dict(), "total": self.total, "facets": self.facets,
                "results": self.items.to_records()}


def _item_hash(item: Item) -> str:
    return hashlib.blake2b(item.model_dump_json().encode(), digest_size=12).hexdigest()


class SearchEngine(QueryVectors):
    def __init__(self, text: TextConfig | None = None, index: IndexConfig | None = None,
                 search: SearchConfig | None = None, encoder=None, cache_dir: str | Path | None = None) -> None:
        self.text_config = text or TextConfig()
        self.index_config = index or IndexConfig()
        self.config = search or SearchConfig()
        self._encoder = encoder
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.ids = Vocabulary()
        self._tie = np.zeros(0, np.uint64)
        self.alive = np.zeros(0, bool)
        self.hashes: list[str] = []
        self.lex_texts: list[str] = []
        self.surface: list[tuple[str, ...]] = []  # each row's distinct surface words (re-ranker features)
        # each row's product-type word and the word before it, stemmed like the index (re-ranker features)
        self.heads: list[tuple[str, str]] = []
        self.lexical = LexicalIndex(self.index_config)
        self.vector: VectorIndex | None = None
        self.tokens: TokenIndex | None = None  # titles' token vectors (re-ranker soft match); None when off
        self.neighbours: NeighbourIndex | None = None  # nearest catalog items (re-ranker features); None when off
        self.catalog = Catalog()
        self.intent: CategoryIntent | None = None
        self.vocab: dict[str, int] = {}
        self.joined: dict[str, int] = {}  # neighbouring catalog words written together -> count (typo splits)
        self.reranker = None
        self._speller: SpellCorrector | None = None
        # query text -> vector, ("tokens", text) -> token vectors
        self._qcache: OrderedDict[str | tuple[str, str], np.ndarray] = OrderedDict()
        self._qencoder = None
        self._qboth = None
        self._last_tokens: tuple[str, np.ndarray] | None = None

    @property
    def tie(self) -> np.ndarray:
        """Each row's key for breaking score ties (`index.topk.tie_keys` of its item id), so that a result does
        not depend on the order the catalog was loaded in. A row keeps its id for good, so new rows extend it."""
        if len(self._tie) != len(self.ids):
            done = len(self._tie) if len(self._tie) < len(self.ids) else 0
            self._tie = np.concatenate([self._tie[:done], tie_keys(self.ids.ids[done:])])
        return self._tie

    # -- building and updating ------------------------------------------------------------------
    @classmethod
    def build(cls, items: Sequence[Item], *, text: TextConfig | None = None, index: IndexConfig | None = None,
              search: SearchConfig | None = None, encoder=None, cache_dir: str | Path | None = None,
              progress: bool = False) -> "SearchEngine":
        eng = cls(text, index, search, encoder, cache_dir)
        eng.upsert(items, progress=progress)
        return eng

    def upsert(self, items: Sequence[Item], progress: bool = False) -> dict[str, int]:
        """Add new items and replace changed ones (unchanged items are skipped, embeddings of
        unchanged texts come from the cache). Returns counts {added, changed, unchanged}."""
        seen: set[str] = set()
        todo: list[tuple[int, Item]] = []
        stats = {"added": 0, "changed": 0, "unchanged": 0}
        for it in items:
            if not isinstance(it, Item):
                raise DataError(f"expected Item, got {type(it).__name__}", hint="build Items with shopsense.types.Item")
            if it.item_id in seen:
                raise DataError(f"duplicate item id {it.item_id!r} in one upsert", hint="de-duplicate the catalog")
            seen.add(it.item_id)
            h = _item_hash(it)
            row = self.ids.get(it.item_id)
            if row >= 0 and self.alive[row] and self.hashes[row] == h:
                stats["unchanged"] += 1
                continue
            stats["changed" if row >= 0 and self.alive[row] else "added"] += 1
            row = self.ids.add(it.item_id)
            todo.append((row, it))
        if not todo:
            return stats
        n = len(self.ids)
        grow = n - len(self.alive)
        self.alive = np.concatenate([self.alive, np.zeros(grow, bool)])
        self.hashes += [""] * grow
        self.lex_texts += [""] * grow
        self.surface += [()] * grow
        self.heads += [("", "")] * grow
        rows = [r for r, _ in todo]
        its = [it for _, it in todo]
        lex = [item_text(it, self.index_config.lexical_fields, 10_000) for it in its]
        for r, t, it in zip(rows, lex, its):
            if self.alive[r]:
                self._vocab_update(self.lex_texts[r], -1)
            self.surface[r] = self._vocab_update(t, +1)
            self.heads[r] = self._head(it.title)
            self.lex_texts[r], self.hashes[r] = t, _item_hash(it)
        self.lexical.set_docs(rows, lex)
        tc = self.text_config
        vecs = self._item_encoder().encode([item_text(it, tc.item_fields, tc.max_chars) for it in its],
                                           progress=progress)
        if self.vector is None:
            self.vector = VectorIndex(vecs.shape[1], self.index_config)
        self.vector.upsert(np.asarray(rows), vecs)
        if self.index_config.neighbours:
            self.neighbours = self.neighbours or NeighbourIndex(self.index_config.neighbours)
            self.neighbours.update(self.vector, np.asarray(rows), self.tie)
        if self.index_config.token_dims and hasattr(self.encoder, "encode_tokens"):
            lists = self._token_encoder().encode_tokens([it.title for it in its], progress=progress)
            if self.tokens is None and any(len(t) for t in lists):
                self.tokens = TokenIndex.fit(lists, self.index_config.token_dims)
            if self.tokens is not None:
                self.tokens.set_rows(rows, lists)
        self.catalog.set_items(rows, its)
        self.alive[rows] = True
        self._after_change()
        return stats

    def remove(self, item_ids: Sequence[str]) -> int:
        rows = []
        for i in item_ids:
            r = self.ids.get(i)
            if r < 0 or not self.alive[r]:
                raise UnknownIdError("item", i, "it is not in the search index")
            rows.append(r)
        for r in rows:
            self._vocab_update(self.lex_texts[r], -1)
            self.lex_texts[r], self.hashes[r], self.surface[r], self.heads[r] = "", "", (), ("", "")
        self.alive[rows] = False
        self.lexical.remove(rows)
        if self.vector is not None:
            self.vector.remove(np.asarray(rows))
            if self.neighbours is not None:
                self.neighbours.remove(self.vector, np.asarray(rows), self.tie)
        if self.tokens is not None:
            self.tokens.remove(rows)
        self.catalog.remove(rows)
        self._after_change()
        return len(rows)

    def _vocab_update(self, text: str, sign: int) -> tuple[str, ...]:
        """Count `text`'s distinct words in (+1) or out (-1) of the catalog vocabulary (the typo
        corrector's) and its pairs of neighbouring words written together ("air conditioner" ->
        "airconditioner", for splitting run-together query words); returns the words, interned, so the
        re-ranker need not normalise titles per query."""
        seq = words(text)
        ws = tuple(sys.intern(w) for w in dict.fromkeys(seq))
        pairs = {a + b for a, b in zip(seq, seq[1:]) if a.isalpha() and b.isalpha()}
        for table, keys in ((self.vocab, ws), (self.joined, pairs)):
            for w in keys:
                c = table.get(w, 0) + sign
                if c > 0:
                    table[w] = c
                else:
                    table.pop(w, None)
        return ws

    def _head(self, title: str) -> tuple[str, str]:
        """`product_head` of a title, each word stemmed as the index stems (so they compare with query
        tokens); a stop word becomes ""."""
        c = self.index_config
        head, modifier = (stem_words([w], c.stemmer, c.stopwords) for w in product_head(title))
        return (sys.intern(head[0]) if head else "", sys.intern(modifier[0]) if modifier else "")

    def _after_change(self) -> None:
        self._speller = None
        paths = self.catalog.paths
        if paths and (self.intent is None or self.intent.paths != paths):
            old = self.intent
            self.intent = CategoryIntent.build(paths, self.encoder, temperature=self.config.intent_temperature)
            if old is not None:
                self.intent.log_counts = old.snapshot()

    def add_query_logs(self, events: Sequence[Any]) -> int:
        """Feed logged events, in time order, to category intent (`add_query_rows`); returns how many
        clicks / carts / purchases it learned from. A live server calls it for every posted event."""
        return self.add_query_rows((e.user_id, e.query, e.item_id, getattr(e.type, "value", e.type), e.timestamp)
                                   for e in events)

    def add_query_rows(self, rows: Iterable[tuple[str, str | None, str | None, str, float]]) -> int:
        """(user, query, item id, event type, time) rows in time order (`CategoryIntent.add_rows`)."""
        return self.intent.add_rows(rows, self._category_of) if self.intent is not None else 0

    def _category_of(self, item_id: str | None) -> int:
        r = self.ids.get(item_id) if item_id else -1
        return int(self.catalog.category[r]) if r >= 0 else -1

    def learn_query_logs(self, dataset: Any) -> int:
        """Rebuild category intent's query logs from every event of `dataset` (a store's whole log): what
        was learned before is replaced, so running it again on the same events changes nothing."""
        if self.intent is None:
            return 0
        pairs = query_log_pairs(dataset, self._category_of)
        self.intent.replace_logs(pairs)
        return len(pairs)

    def __len__(self) -> int:
        return int(np.count_nonzero(self.alive))  # 8x faster than .sum() on bools

    @property
    def speller(self) -> SpellCorrector:
        if self._speller is None:
            self._speller = SpellCorrector(self.vocab, known=self._indexed, joined=self.joined, cooccur=self._cooccur)
        return self._speller

    def warm_up(self) -> None:
        """Build the lazily made tables now rather than inside the first shopper's request: the BM25
        matrix, the document frequencies the typo corrector and the re-ranker read (counting them over a
        100k-item catalog took ~0.3 s, stalling every request queued behind the first query with a typo:
        /search p99 170-190 ms in a serving run) and the per-row token sets of the matched-terms reasons."""
        self.lexical.bm25
        self.lexical.doc_count("")
        if len(self.lexical):
            self.lexical.matched(0, [])
        self.speller

    def _indexed(self, word: str) -> bool:
        """Whether the lexical index already matches `word` as typed (every stem of it is indexed)."""
        toks = self.lexical.tokenize(word)
        return bool(toks) and all(self.lexical.doc_count(t) > 0 for t in toks)

    def _cooccur(self, words: Sequence[str], context: Sequence[str]) -> list[int]:
        """For each of `words`, how many titles hold it together with one of the `context` words (stems, as
        indexed): the typo corrector's tie-break, asked only for a word with tied corrections, then cached.
        One BM25 pass for the context and one per word."""
        lex = self.lexical
        ctx = lex.scores(lex.tokenize(" ".join(context))) > 0
        return [int(np.count_nonzero(ctx & (lex.scores(lex.tokenize(w)) > 0))) for w in words]

    # -- querying -------------------------------------------------------------------------------
    def parse(self, query: str, understand: bool | None = None) -> ParsedQuery:
        c = self.config
        u = c.understand if understand is None else understand
        if not u:
            q, notes = check_query(query, c.max_query_chars)
            return ParsedQuery(query, normalize(q), notes=notes, dense_text=" ".join(q.split()))
        return parse_query(query, speller=self.speller, max_chars=c.max_query_chars, prices=c.price_filters,
                           typo=c.typo_correction, catalog_has_prices=self.catalog.has_prices)

    def candidates(self, parsed: ParsedQuery, filters: Filters | None = None, mode: str | None = None,
                   understand: bool | None = None, query_vector: np.ndarray | None = None) -> Candidates:
        if len(self) == 0:
            raise DataError("the search index is empty", hint="build it from items first (SearchEngine.build)")
        return gather(self, parsed, filters, mode or self.config.mode,
                      self.config.understand if understand is None else understand, query_vector)

    def search(self, query: str, k: int = 10, filters: Filters | dict | None = None, *, mode: str | None = None,
               understand: bool | None = None, facets: bool = False, rerank: bool | None = None,
               query_vector: np.ndarray | None = None) -> SearchResult:
        """Search the catalog. `filters` are hard (merged over price filters parsed from the query);
        category intent is a soft boost. Returns the top `k` with reasons, the full result-set size
        and, with facets=True, facet counts over the full filtered result set. `query_vector`: the
        encoding of `dense_query(query)`, when the caller has it already (else it is encoded here)."""
        if k < 1:
            raise DataError(f"k must be at least 1, got {k}")
        if isinstance(filters, dict):
            filters = Filters.model_validate(filters)
        parsed = self.parse(query, understand)
        cand = self.candidates(parsed, filters, mode, understand, query_vector)
        do_rerank = (self.config.rerank if rerank is None else rerank) and self.reranker is not None
        items = rank(self, parsed, cand, k, self.reranker if do_rerank else None)
        fc = self.catalog.facets(cand.result_mask) if facets else None
        return SearchResult(items, parsed, int(np.count_nonzero(cand.result_mask)), fc)

    # -- persistence ----------------------------------------------------------------------------
    def fingerprint(self) -> str:
        h = hashlib.blake2b(digest_size=12)
        for part in (self.text_config.fingerprint(), self.index_config.fingerprint(), self.encoder.name):
            h.update(part.encode())
        for i, (x, a) in enumerate(zip(self.hashes, self.alive)):
            if a:
                h.update(f"{self.ids.ids[i]}:{x};".encode())
        return h.hexdigest()

    def save(self, folder: str | Path) -> Path:
        from shopsense.search.persist import save_engine

        return save_engine(self, folder)

    @classmethod
    def load(cls, folder: str | Path, encoder=None, cache_dir: str | Path | None = None,
             search: SearchConfig | None = None) -> "SearchEngine":
        from shopsense.search.persist import load_engine

        return load_engine(cls, folder, encoder, cache_dir, search)
