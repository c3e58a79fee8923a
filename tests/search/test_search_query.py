from __future__ import annotations

import pytest

from shopsense.errors import DataError
from shopsense.search.query import SpellCorrector, parse_price, parse_query

PRICE_CASES = [
    ("drill under 50", None, 50, "drill"),
    ("lamp below $30", None, 30, "lamp"),
    ("rug between 20 and 40", 20, 40, "rug"),
    ("rug between $40 and $20", 20, 40, "rug"),
    ("tv $20-$40", 20, 40, "tv"),
    ("tv $20 to $40", 20, 40, "tv"),
    ("paint 10 - 20 dollars", 10, 20, "paint"),
    ("chair over $100", 100, None, "chair"),
    ("chair more than 100 dollars", 100, None, "chair"),
    ("shoes under 49.99", None, 49.99, "shoes"),
    ("table < 100", None, 100, "table"),
    ("Desk Less Than 200", None, 200, "Desk"),
]
NON_PRICES = ["iphone 50", "under 5 gal bucket", "over 36 in vanity", "over the range microwave",
              "under cabinet lighting", "1 1/2 inch hex head", "2x4 under 8 ft", "between 2 and 3 inch screws",
              "led bulb 60w", "50 ft hose", "samsung s24", "from 10 to 12 gauge wire"]


@pytest.mark.parametrize("q,lo,hi,rest", PRICE_CASES)
def test_price_phrases_become_filters(q, lo, hi, rest):
    f, r, phrase = parse_price(q)
    assert (f.price_min, f.price_max) == (lo, hi)
    assert r == rest and phrase


@pytest.mark.parametrize("q", NON_PRICES)
def test_numbers_that_are_not_prices(q):
    f, r, phrase = parse_price(q)
    assert f.is_empty() and r == q and phrase is None


def test_spell_correction_against_catalog_vocabulary():
    sp = SpellCorrector({"cordless": 50, "drill": 80, "hammer": 30, "hamper": 2, "coupling": 5})
    assert sp.correct("cordles dril") == ("cordless drill", {"cordles": "cordless", "dril": "drill"})
    assert sp.correct("drill bit")[1] == {}  # known words (and short ones) are left alone
    assert sp.correct("hammr")[0] == "hammer"  # most frequent at the same distance wins over 'hamper'
    assert sp.correct("couplingg")[0] == "coupling"
    assert sp.correct("zzzzzzz 12 平底锅")[1] == {}


def test_spell_correction_counts_a_swap_of_neighbours_as_one_slip():
    sp = SpellCorrector({"toilet": 40, "porcelain": 20, "tile": 90})
    # Levenshtein puts "toliet" two edits from "toilet" (too far for a 6-letter word); one transposition
    assert sp.correct("toliet seat")[1] == {"toliet": "toilet"}
    assert sp.correct("porcalain tlie")[0] == "porcelain tile"


def test_spell_correction_leaves_words_the_index_already_matches():
    vocab = {"winches": 12, "inch": 300, "brushes": 30}
    indexed = {"inch", "winch", "brush"}  # stems the lexical index holds
    known = lambda w: w.rstrip("es") in indexed or w[:-2] in indexed  # noqa: E731 - a toy stemmer
    assert SpellCorrector(vocab).correct("inches")[0] == "winches"  # the neighbour, without `known`
    assert SpellCorrector(vocab, known=known).correct("inches") == ("inches", {})
    assert SpellCorrector(vocab, known=known).correct("inchh")[0] == "inch"  # a real slip is still fixed


def _three_title_engine():
    from shopsense.search.engine import SearchEngine
    from shopsense.text.encoder import HashingEncoder
    from shopsense.types import Item

    titles = ["Brass winches", "Tape measure 25 inch", "Toilet seat"]
    return SearchEngine.build([Item(item_id=f"i{k}", title=t) for k, t in enumerate(titles)], encoder=HashingEncoder())


def test_engine_speller_skips_words_whose_stem_is_indexed():
    eng = _three_title_engine()
    assert eng.parse("measure inches").corrections == {}  # 'inches' stems to the indexed 'inch'
    assert eng.parse("toliet").corrections == {"toliet": "toilet"}


def test_parse_query_odd_inputs():
    assert parse_query("x" * 10_000).notes[0].startswith("query cut")
    assert parse_query("😀").text == "😀"
    assert parse_query("平底锅 under 20").filters.price_max == 20
    assert parse_query("drill under 20", catalog_has_prices=False).filters.is_empty()
    assert parse_query("under $20").text == "under $20"  # a bare price phrase keeps its words
    for bad in ("", "   ", "\x00"):
        with pytest.raises(DataError, match="empty query"):
            parse_query(bad)
    with pytest.raises(DataError, match="must be a string"):
        parse_query(None)  # type: ignore[arg-type]


def test_engine_warm_up_builds_the_tables_the_first_typo_would_build():
    """Counting document frequencies lazily took ~0.3 s on a 100k catalog inside the first request with
    a typo (every queued request waited: /search p99 170-190 ms); warm_up builds them before traffic."""
    eng = _three_title_engine()
    eng._speller = None
    eng.lexical._df = eng.lexical._doc_sets = None
    eng.warm_up()
    assert eng.lexical._df is not None and eng.lexical._doc_sets is not None and eng._speller is not None
    assert eng.lexical.doc_count("toilet") == 1


def test_spell_correction_splits_words_the_catalog_writes_apart():
    vocab = {"air": 40, "conditioner": 12, "snap": 9, "per": 30, "cup": 5, "board": 20, "rust": 7, "oleum": 7,
             "sheet": 50, "in": 900}
    sp = SpellCorrector(vocab, joined={"airconditioner", "rustoleum", "sheetin"})
    assert sp.correct("portable airconditioner") == ("portable air conditioner", {"airconditioner": "air conditioner"})
    assert sp.correct("rustoleum")[0] == "rust oleum"
    # both halves are catalog words, but no title has them side by side: left alone
    assert sp.correct("snapper cupboard") == ("snapper cupboard", {})
    assert sp.correct("sheetin")[1] == {}  # a two-letter half ("in") is too likely a slip of the last letters
    assert SpellCorrector(vocab).correct("airconditioner")[1] == {}  # no pair table, no split


def test_engine_split_table_follows_the_catalog_and_its_saved_copy(tmp_path):
    from shopsense.search.engine import SearchEngine
    from shopsense.text.encoder import HashingEncoder
    from shopsense.types import Item

    eng = SearchEngine.build([Item(item_id="a", title="Window air conditioner 8000 BTU"),
                              Item(item_id="b", title="Snow blower, 24 in.")], encoder=HashingEncoder())
    assert eng.parse("airconditioner").corrections == {"airconditioner": "air conditioner"}
    assert eng.parse("snowblower").text == "snow blower"
    eng.save(tmp_path / "eng")
    loaded = SearchEngine.load(tmp_path / "eng", encoder=HashingEncoder())
    assert loaded.joined == eng.joined and loaded.parse("snowblower").text == "snow blower"
    eng.remove(["a"])  # the only title with "air conditioner": no evidence left for the split
    assert "airconditioner" not in eng.joined and eng.parse("airconditioner").corrections == {}
    eng.upsert([Item(item_id="a", title="Air conditioner")])
    assert eng.parse("airconditioner").text == "air conditioner"


def test_spell_correction_breaks_ties_by_the_other_query_words():
    vocab = {"marquee": 30, "parquet": 4, "flooring": 20, "paint": 50, "3x4": 9, "x": 90}
    pairs = {("parquet", "flooring"): 3, ("marquee", "paint"): 25, ("parquet", "3x4"): 9, ("parquet", "x"): 9}
    calls = []

    def cooccur(words, context):
        calls.append((tuple(words), tuple(context)))
        return [sum(pairs.get((w, c), 0) for c in context) for w in words]

    sp = SpellCorrector(vocab, cooccur=cooccur)
    assert sp.correct("parquee flooring") == ("parquet flooring", {"parquee": "parquet"})
    assert sp.correct("parquee paint")[0] == "marquee paint"
    # sizes and short words sit beside every word: not read as context, though titles pair them with parquet
    assert sp.correct("parquee 3x4 x")[0] == "marquee 3x4 x"
    assert sp.correct("parquee")[0] == "marquee"  # no other word: the more frequent one
    assert SpellCorrector(vocab).correct("parquee flooring")[0] == "marquee flooring"  # without it: frequency
    n = len(calls)
    sp.correct("parquee flooring")  # cached with its context
    assert len(calls) == n
    assert sp.correct("parquet")[1] == {} and all(set(ws) == {"parquet", "marquee"} for ws, _ in calls)


def test_engine_typo_tie_break_reads_titles_and_follows_changes():
    from shopsense.search.engine import SearchEngine
    from shopsense.text.encoder import HashingEncoder
    from shopsense.types import Item

    items = [Item(item_id=f"m{k}", title=f"BEHR Marquee interior paint {c}")
             for k, c in enumerate(("white", "gray", "blue"))]
    items.append(Item(item_id="p", title="Oak parquet flooring tile"))
    eng = SearchEngine.build(items, encoder=HashingEncoder())
    assert eng.parse("parquee flooring").corrections == {"parquee": "parquet"}
    assert eng.parse("parquee paint").corrections == {"parquee": "marquee"}
    assert eng.parse("parquee").corrections == {"parquee": "marquee"}  # more titles say marquee
    # no title pairs parquet with flooring any more ("flooring" stays a catalog word): frequency decides
    eng.upsert([Item(item_id="p", title="Oak parquet tile"), Item(item_id="v", title="Vinyl plank flooring")])
    assert eng.parse("parquee flooring").corrections == {"parquee": "marquee"}
