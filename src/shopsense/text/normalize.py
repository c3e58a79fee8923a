"""Text normalisation and tokenisation shared by the lexical index and the query parser.

Hand-written regexes because shop titles write units a dozen ways ("1/2 in.", "1/2-inch", '1/2"',
"gal." / "gallon"), and no maintained library knows retail unit spellings; everything else
(stemming, stop words) comes from PyStemmer and bm25s.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

_UNITS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bsq(?:uare)?\.?\s*f(?:ee|oo)?t\.?(?=\W|$)"), " sqft "),
    (re.compile(r"\bcu(?:bic)?\.?\s*f(?:ee|oo)?t\.?(?=\W|$)"), " cuft "),
    (re.compile(r"(?<=\d)\s*(?:inches|inch|in\.|in(?=\W|$)|\")"), " inch "),
    (re.compile(r"(?<=\d)\s*(?:feet|foot|ft\.?|')(?=\W|$)"), " ft "),
    (re.compile(r"\b(?:gallons?|gal\.?)(?=\W|$)"), " gal "),
    (re.compile(r"(?<=\d)\s*(?:pounds?|lbs?\.?)(?=\W|$)"), " lb "),
    (re.compile(r"(?<=\d)\s*(?:ounces?|oz\.?)(?=\W|$)"), " oz "),
    (re.compile(r"(?<=\d)\s*(?:volts?|v)(?=\W|$)"), " volt "),
    (re.compile(r"(?<=\d)\s*(?:watts?|w)(?=\W|$)"), " watt "),
    (re.compile(r"(?<=\d)\s*(?:amps?|amperes?)(?=\W|$)"), " amp "),
    (re.compile(r"(?<=\d)\s*(?:millimeters?|mm)(?=\W|$)"), " mm "),
    (re.compile(r"(?<=\d)\s*(?:degrees?|deg\.?|°)(?=\W|$)"), " degree "),
]
_DIM_X = re.compile(r"(?<=\d)\s*(?:x|by|\*)\s*(?=\d)")
_LETTER_DIGIT = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])")
_TOKEN = re.compile(r"\d+(?:[./]\d+)*|[^\W\d_]+", re.UNICODE)


def normalize(text: str, units: bool = True) -> str:
    """Lower-case, unescape HTML, NFKC, canonical units; keeps non-Latin scripts intact."""
    t = unicodedata.normalize("NFKC", html.unescape(text)).lower()
    if units:
        t = _LETTER_DIGIT.sub(" ", t)  # "12v" -> "12 v", "sc141" -> "sc 141"
        t = _DIM_X.sub(" x ", t)  # "2x4" -> "2 x 4"
        t = t.replace("-", " ")
        for pat, rep in _UNITS:
            t = pat.sub(rep, t)
    return " ".join(t.split())


def words(text: str, units: bool = True) -> list[str]:
    """Surface tokens after normalisation (numbers keep fractions/decimals: "1/2", "0.375")."""
    return _TOKEN.findall(normalize(text, units))


_HEAD_SPLIT = re.compile(r"\s(?:in|with|for|by)\s|\s-\s|[,(]")
_UNIT_WORDS = frozenset(rep.strip() for _, rep in _UNITS) | {"x"}


def product_head(title: str) -> tuple[str, str]:
    """The word that names what a product is, read off the way shop titles are written: brand, model and
    specs first, then the product type, then " in <colour>", " with <feature>", " for <use>", " - <variant>",
    ", ..." or "(pack)": "RIDGID 10 in. Portable Tile Saw with Laser" -> ("saw", "tile"). It is the last word
    before the first such connector that is neither a number nor a unit, with the word before it (the type's
    modifier, "" if none). Our own heuristic, written by hand: no library names the product type of a
    free-text title, and the Home Depot catalog has no categories to learn it from. Used by the search
    re-ranker (`head_*` features); ("", "") when the title has no such word."""
    seg = _HEAD_SPLIT.split(unicodedata.normalize("NFKC", html.unescape(title)).lower(), maxsplit=1)[0]
    ws = [w for w in words(seg) if not w[:1].isdigit() and w not in _UNIT_WORDS]
    return (ws[-1], ws[-2] if len(ws) > 1 else "") if ws else ("", "")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN

    return frozenset(STOPWORDS_EN)


@lru_cache(maxsize=4)
def _stemmer(language: str):
    import Stemmer

    return Stemmer.Stemmer(language)


def stem_words(ws: list[str], language: str = "english", stopwords: bool = True) -> list[str]:
    if stopwords:
        sw = _stopwords()
        ws = [w for w in ws if w not in sw]
    if language and language != "none":
        ws = _stemmer(language).stemWords(ws)
    return ws


def tokenize(text: str, language: str = "english", stopwords: bool = True, units: bool = True) -> list[str]:
    """Index/query tokens: normalised words, stop words dropped, stemmed."""
    return stem_words(words(text, units), language, stopwords)
