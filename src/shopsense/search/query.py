"""Query understanding: length/emptiness checks, price constraints -> filters, typo correction
against the catalog vocabulary. Category intent lives in `search.intent`.

Price phrases are parsed with hand-written regexes (no maintained library parses shop price
phrases); a number directly followed by a unit ("under 5 gal", "over 36 in") is NOT a price, and a
bare number ("iphone 50") never is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Container, Sequence

from shopsense.errors import DataError
from shopsense.index.catalog import Filters
from shopsense.text.normalize import normalize, words

_NUM = r"\$?\s*(\d+(?:[.,]\d+)?)\s*(?:\$|dollars?|usd|bucks|eur|€|£)?"
_NOT_UNIT = (r"(?!\s*(?:[\"']|in\b|in\.|inch|inches|ft\b|ft\.|feet|foot|gal|gallon|lb|lbs|pound|oz|ounce|"
             r"v\b|volt|w\b|watt|amp|mm|cm|m\b|meter|sq|cu|x\b|pack|pk|pc|piece|count|ct\b|%|percent|"
             r"degree|gauge|ga\b|btu|hp\b|mph|year|yr|day|hour|min))")
_RANGE = [
    re.compile(r"\bbetween\s+" + _NUM + r"\s*(?:and|to|-)\s*" + _NUM + _NOT_UNIT),
    re.compile(r"(?:^|\s)\$\s*(\d+(?:[.,]\d+)?)\s*(?:-|to)\s*\$?\s*(\d+(?:[.,]\d+)?)\b" + _NOT_UNIT),
    re.compile(r"\b(?:from\s+)?(\d+(?:[.,]\d+)?)\s*(?:-|to)\s*(\d+(?:[.,]\d+)?)\s*(?:\$|dollars?|usd|bucks)"),
]
_MAX = re.compile(r"\b(?:under|below|less\s+than|cheaper\s+than|max(?:imum)?|up\s+to|no\s+more\s+than|"
                  r"at\s+most|within)\s+" + _NUM + r"\b" + _NOT_UNIT + r"|(?:^|\s)(?:<=?)\s*" + _NUM + _NOT_UNIT)
_MIN = re.compile(r"\b(?:over|above|more\s+than|at\s+least|min(?:imum)?|from)\s+\$\s*(\d+(?:[.,]\d+)?)\b"
                  + _NOT_UNIT + r"|\b(?:over|above|more\s+than|at\s+least)\s+(\d+(?:[.,]\d+)?)\s*(?:\$|dollars?|usd|bucks)"
                  + r"|(?:^|\s)(?:>=?)\s*" + _NUM + _NOT_UNIT)


def _num(s: str) -> float:
    return float(s.replace(",", "."))


def parse_price(query: str) -> tuple[Filters, str, str | None]:
    """(price filters, query with the price phrase removed, the phrase matched or None)."""
    q = query.lower()
    for pat in _RANGE:
        m = pat.search(q)
        if m:
            lo, hi = sorted((_num(m.group(1)), _num(m.group(2))))
            return Filters(price_min=lo, price_max=hi), _cut(query, m), m.group(0).strip()
    m = _MAX.search(q)
    if m:
        v = next(g for g in m.groups() if g is not None)
        return Filters(price_max=_num(v)), _cut(query, m), m.group(0).strip()
    m = _MIN.search(q)
    if m:
        v = next(g for g in m.groups() if g is not None)
        return Filters(price_min=_num(v)), _cut(query, m), m.group(0).strip()
    return Filters(), query, None


def _cut(text: str, m: re.Match) -> str:
    return " ".join((text[: m.start()] + " " + text[m.end():]).split())


@dataclass
class ParsedQuery:
    raw: str
    text: str  # normalised, price phrase removed, typos corrected: what the retrievers see
    filters: Filters = field(default_factory=Filters)
    price_phrase: str | None = None
    corrections: dict[str, str] = field(default_factory=dict)
    category: list[tuple[str, float]] = field(default_factory=list)  # (path, probability) soft intent
    notes: list[str] = field(default_factory=list)
    dense_text: str = ""  # what the sentence encoder sees: price phrase cut, typos fixed, otherwise as typed

    def to_dict(self) -> dict[str, Any]:
        return {"raw": self.raw, "text": self.text, "filters": self.filters.model_dump(exclude_defaults=True),
                "price_phrase": self.price_phrase, "corrections": self.corrections,
                "category": self.category, "notes": self.notes}


def check_query(query: Any, max_chars: int) -> tuple[str, list[str]]:
    if not isinstance(query, str):
        raise DataError(f"query must be a string, got {type(query).__name__}", hint="pass the shopper's text")
    notes = []
    q = query.replace("\x00", " ")
    if len(q) > max_chars:
        q = q[:max_chars]
        notes.append(f"query cut to its first {max_chars} characters (was {len(query)})")
    if not q.strip():
        raise DataError("empty query", hint="type at least one word")
    return q, notes


def _context_word(w: str) -> bool:
    """A query word that can tell the typo corrector what the query is about (see SpellCorrector)."""
    return len(w) >= 3 and not any(ch.isdigit() for ch in w)


class SpellCorrector:
    """Corrects query words absent from the catalog vocabulary to the most frequent catalog word
    within edit distance 1 (words of 4-7 letters) or 2 (longer), or splits a run-together word into the
    two catalog words it joins (`joined`: see `_split`). Uses rapidfuzz when installed;
    without it, correction is skipped (noted in the parse).

    The distance is optimal string alignment (Levenshtein plus adjacent transpositions at cost 1):
    "toliet", "porcalain" and "orgainzer" are one slip away from their word, not two. `known`, when
    given, says whether the search index already matches a word as it is (its stem is indexed:
    "inches", "clippers", "sconces"); such words are left alone — correcting them only picked a
    neighbour ("inches" -> "winches", "bushes" -> "brushes"). On the 1,000-query Home Depot train
    hold-out (benchmarks/results/search.md) hybrid + QU NDCG@10 read 0.4491 with plain Levenshtein,
    0.4509 with transpositions, 0.4512 with both (and 121 instead of 153 queries rewritten).

    `cooccur(words, context)`, when given, counts for each word the catalog titles that hold it together with
    one of the query's other catalog words (of 3+ letters, no digits: "1x6" and "x" sit beside every word); it
    breaks ties among the candidates at the least distance, before frequency: "parquee flooring" -> parquet,
    not the more frequent marquee; "collor clamp" -> collar; "1x6 cedar boaed" -> board, not boxed.
    Our own rule (the libraries' spellers rank a word alone); measured on the Home Depot train queries,
    benchmarks/results/search.md."""

    def __init__(self, vocab: dict[str, int], min_len: int = 4, known: Callable[[str], bool] | None = None,
                 joined: Container[str] = (),
                 cooccur: Callable[[Sequence[str], Sequence[str]], Sequence[int]] | None = None) -> None:
        self.vocab = vocab
        self.min_len = min_len
        self.known = known
        self.joined = joined
        self.cooccur = cooccur
        self._by_len: dict[int, list[str]] = {}
        for w in vocab:
            if w.isalpha():
                self._by_len.setdefault(len(w), []).append(w)
        self._cache: dict[str, tuple[str, ...]] = {}  # word -> its fix, its tied candidates (by frequency) or ()
        self._ties: dict[tuple[str, tuple[str, ...]], str] = {}  # (word, context words) -> the tie-break's pick

    def correct_word(self, w: str, context: Sequence[str] = ()) -> str | None:
        """The correction of `w` (None: leave it); `context`: the query's other words. The candidates are
        found once per word; only a tie among them is decided per context."""
        if w in self.vocab or len(w) < self.min_len or not w.isalpha() or not w.isascii():
            return None
        cands = self._cache.get(w)
        if cands is None:
            if self.known is not None and self.known(w):
                cands = ()
            else:
                split = self._split(w)
                cands = (split,) if split else self._nearest(w)
            if len(self._cache) < 100_000:
                self._cache[w] = cands
        ctx = tuple(c for c in context if c in self.vocab and _context_word(c)) if self.cooccur is not None else ()
        if len(cands) < 2 or not ctx:
            return cands[0] if cands else None
        pick = self._ties.get((w, ctx))
        if pick is None:
            co = dict(zip(cands, self.cooccur(list(cands), ctx)))
            pick = min(cands, key=lambda c: (-co[c], -self.vocab[c], c))
            if len(self._ties) < 100_000:
                self._ties[(w, ctx)] = pick
        return pick

    def _split(self, w: str) -> str | None:
        """A run-together word the catalog writes as two ("airconditioner", "rustoleum", "jeldwen"): `joined`
        holds every pair of neighbouring catalog words written together, so a split is taken only where
        titles show the two words side by side ("snapper" is not "snap per"). Of the cuts into two catalog
        words, the one whose rarer word is most frequent. Our own rule (no library splits against a
        catalog's own word pairs); measured on the Home Depot train hold-out, benchmarks/results/search.md."""
        if w not in self.joined:
            return None
        cuts = [(min(self.vocab[w[:i]], self.vocab[w[i:]]), i) for i in range(3, len(w) - 2)
                if w[:i] in self.vocab and w[i:] in self.vocab]  # halves of 3+ letters: not "pr os", "sheet in"
        if not cuts:
            return None
        i = max(cuts)[1]
        return f"{w[:i]} {w[i:]}"

    def _nearest(self, w: str) -> tuple[str, ...]:
        """The catalog words at the least edit distance from `w`, most frequent first (() if none)."""
        from rapidfuzz.distance import OSA
        from rapidfuzz.process import extract

        d = 1 if len(w) <= 7 else 2
        found: list[tuple[int, str]] = []
        for n in range(len(w) - d, len(w) + d + 1):
            choices = self._by_len.get(n)
            if choices:
                found += [(int(dist), c) for c, dist, _ in extract(w, choices, scorer=OSA.distance, score_cutoff=d,
                                                                   limit=20)]
        if not found:
            return ()
        least = min(dist for dist, _ in found)
        return tuple(sorted({c for dist, c in found if dist == least}, key=lambda c: (-self.vocab[c], c)))

    def correct(self, text: str) -> tuple[str, dict[str, str]]:
        try:
            import rapidfuzz  # noqa: F401
        except ImportError:
            return text, {}
        fixes: dict[str, str] = {}
        out = []
        ws = text.split()
        for k, w in enumerate(ws):
            c = self.correct_word(w, ws[:k] + ws[k + 1:])
            if c:
                fixes[w] = c
            out.append(c or w)
        return " ".join(out), fixes


def vocabulary(texts) -> dict[str, int]:
    """Document frequency of normalised surface words over the catalog texts."""
    df: dict[str, int] = {}
    for t in texts:
        for w in set(words(t)):
            df[w] = df.get(w, 0) + 1
    return df


def parse_query(query: str, *, speller: SpellCorrector | None = None, max_chars: int = 1000,
                prices: bool = True, typo: bool = True, catalog_has_prices: bool = True) -> ParsedQuery:
    q, notes = check_query(query, max_chars)
    filters, rest, phrase = parse_price(q) if prices else (Filters(), q, None)
    if phrase and not catalog_has_prices:
        notes.append(f"price constraint {phrase!r} ignored: the catalog has no prices")
        filters = Filters()
    elif phrase and not rest.strip():
        rest = q  # the whole query was a price phrase: keep the words for retrieval
    text = normalize(rest)
    fixes: dict[str, str] = {}
    if typo and speller is not None:
        text, fixes = speller.correct(text)
    dense = " ".join(rest.split())  # as typed: the encoder is uncased and reads units itself
    for w, c in fixes.items():
        dense = re.sub(rf"\b{re.escape(w)}\b", c, dense, flags=re.IGNORECASE)
    return ParsedQuery(query, text, filters, phrase, fixes, [], notes, dense)
