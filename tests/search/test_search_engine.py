from __future__ import annotations

import numpy as np
import pytest

from shopsense.errors import DataError, UnknownIdError
from shopsense.index.catalog import Filters
from shopsense.search.config import SearchConfig
from shopsense.search.engine import SearchEngine
from shopsense.text.encoder import HashingEncoder
from shopsense.types import Event, Item

ROWS = [
    ("Cordless Drill 18V with battery", 89.0, "Makita", ["Tools", "Power Tools"], 4.5),
    ("Hammer drill 1/2 in. corded", 59.0, "DeWalt", ["Tools", "Power Tools"], 4.1),
    ("Claw hammer 16 oz", 15.0, "Estwing", ["Tools", "Hand Tools"], 4.8),
    ("Garden hose 50 ft", 25.0, "Flexzilla", ["Garden", "Watering"], 3.9),
    ("LED light bulb 60W", 5.0, "Philips", ["Lighting", "Bulbs"], 4.0),
    ("Drill bit set titanium", 19.0, "DeWalt", ["Tools", "Accessories"], None),
    ("Garden hose reel", 45.0, "Suncast", ["Garden", "Watering"], 4.2),
    ("Right angle drill attachment", 29.0, "Milwaukee", ["Tools", "Accessories"], 3.5),
]


def make_items():
    return [Item(item_id=f"i{i}", title=t, price=p, brand=b, category=c, rating=r)
            for i, (t, p, b, c, r) in enumerate(ROWS)]


@pytest.fixture
def engine(tmp_path):
    return SearchEngine.build(make_items(), encoder=HashingEncoder(), cache_dir=tmp_path / "emb")


def test_search_returns_reasons_and_full_result_set_facets(engine):
    res = engine.search("drill", k=2, facets=True)
    assert len(res.items) == 2 and res.items.ids[0] in {"i0", "i1", "i5", "i7"}
    drills = {"i0", "i1", "i5", "i7"}
    assert res.total >= len(drills)  # facets describe everything matched, not the 2 shown
    assert res.facets["total"] == res.total
    assert sum(res.facets["category_top"].values()) == res.total
    assert res.facets["category_top"]["Tools"] >= 4
    top = res.items.reasons[0]
    bm25 = next(r for r in top if r["source"] == "bm25")
    assert bm25["matched"] == ["drill"] and bm25["rank"] >= 1
    assert any(r["source"] == "fusion" for r in top)
    assert res.to_dict()["results"][0]["item_id"] == res.items.ids[0]


def test_price_in_query_filters_and_reports(engine):
    res = engine.search("drill under 40", k=10, facets=True)
    prices = {it.item_id: it.price for it in make_items()}
    assert res.items.ids and all(prices[i] <= 40 for i in res.items.ids)
    assert res.query.filters.price_max == 40 and res.query.price_phrase == "under 40"
    assert set(res.facets["price"]) <= {"0-10", "10-25", "25-50"}
    assert any(r["source"] == "filter" for r in res.items.reasons[0])
    # explicit filters override parsed ones; dict filters accepted
    res2 = engine.search("drill under 40", filters={"brand": ["dewalt"]})
    assert set(res2.items.ids) <= {"i1", "i5"} and "i5" in res2.items.ids
    res3 = engine.search("hose", filters=Filters(category=["Garden"]), mode="bm25")
    assert set(res3.items.ids) == {"i3", "i6"} and res3.total == 2


def test_typo_correction_and_modes(engine):
    res = engine.search("cordles dril", mode="bm25")
    assert res.query.corrections == {"cordles": "cordless", "dril": "drill"}
    assert res.items.ids[0] == "i0"
    assert engine.search("cordles dril", mode="bm25", understand=False).items.ids == []
    dense = engine.search("garden hose", mode="dense")
    assert all(r[0]["source"] == "dense" for r in dense.items.reasons)


def test_category_intent_from_logs_is_a_soft_boost(engine):
    before = engine.search("garden drill", k=8, mode="bm25")
    ev = [Event(user_id="u", item_id="i5", type="purchase", query="Garden  Drill", timestamp=1.0)] * 3
    assert engine.add_query_logs(ev) == 3
    res = engine.search("garden drill", k=8, mode="bm25")
    assert res.query.category[0][0] == "Tools > Accessories"
    score = lambda r, i: float(r.items.scores[r.items.ids.index(i)])  # noqa: E731
    assert score(res, "i5") == pytest.approx(score(before, "i5") + engine.config.category_boost, abs=1e-6)
    assert score(res, "i0") == pytest.approx(score(before, "i0"))  # other category: untouched
    boosted = dict(zip(res.items.ids, res.items.reasons))["i5"]
    assert any(r["source"] == "category_boost" and r["category"] == "Tools > Accessories" for r in boosted)
    assert {"i3", "i6"} <= set(res.items.ids)  # a boost, not a cut: garden items stay


def test_query_logs_rebuilt_from_a_dataset_replace_what_was_learned(engine):
    from shopsense.types import Dataset

    items = make_items()
    ev = [Event(user_id="u1", item_id="i5", type="purchase", query="Garden Drill", timestamp=1.0),
          Event(user_id="u2", item_id="i5", type="click", query="garden  drill", timestamp=2.0),
          Event(user_id="u2", item_id="i3", type="cart", query="garden drill", timestamp=3.0),
          Event(user_id="u3", item_id="i3", type="view", query="garden drill", timestamp=4.0),  # a view says nothing
          Event(user_id="u3", item_id="i0", type="purchase", timestamp=5.0)]  # no query: nothing to learn
    engine.add_query_logs([Event(user_id="u9", item_id="i4", type="purchase", query="old query", timestamp=0.5)])
    ds = Dataset.from_records(items, ev)
    assert engine.learn_query_logs(ds) == 3
    cat = {c: engine.catalog.paths[engine.catalog.category[engine.ids.get(i)]] for c, i in (("acc", "i5"), ("w", "i3"))}
    code = {k: engine.catalog.paths.index(v) for k, v in cat.items()}
    assert engine.intent.log_counts == {"garden drill": {code["acc"]: 4.0, code["w"]: 2.0}}  # "old query" is gone
    assert engine.learn_query_logs(ds) == 3  # idempotent: the same events, the same counts
    assert engine.intent.log_counts == {"garden drill": {code["acc"]: 4.0, code["w"]: 2.0}}
    res = engine.search("garden drill", k=8, mode="bm25")
    assert res.query.category[0][0] == cat["acc"]


def test_a_take_after_a_search_event_counts_for_that_search_offline_and_live(engine):
    """Shops that log the search apart from the click: the next click / cart / purchase of the same shopper
    within 30 minutes follows from it, offline (rebuilt from a dataset) and live (posted events) alike."""
    from shopsense.types import Dataset

    acc = engine.catalog.paths.index("Tools > Accessories")
    ev = [Event(user_id="ann", type="search", query="garden drill", timestamp=0.0),
          Event(user_id="ann", item_id="i5", type="view", timestamp=10.0),  # a view takes nothing
          Event(user_id="ann", item_id="i5", type="purchase", timestamp=60.0),  # follows the search: 3
          Event(user_id="ann", item_id="i3", type="click", timestamp=70.0),  # one take per search: nothing
          Event(user_id="bob", type="search", query="garden drill", timestamp=0.0),
          Event(user_id="bob", item_id="i5", type="click", timestamp=4000.0),  # too late: nothing
          Event(user_id="cid", type="search", query="garden drill", timestamp=0.0),
          Event(user_id="dan", item_id="i5", type="cart", timestamp=5.0),  # another shopper's take: nothing
          Event(user_id="eve", type="search", query="garden drill", timestamp=0.0),
          Event(user_id="eve", item_id="i3", type="cart", query="hose reel", timestamp=10.0),  # its own query
          Event(user_id="eve", item_id="i5", type="click", timestamp=20.0)]  # the session ended: nothing
    water = engine.catalog.paths.index("Garden > Watering")
    want = {"garden drill": {acc: 3.0}, "hose reel": {water: 2.0}}
    assert engine.learn_query_logs(Dataset.from_records(make_items(), ev)) == 2
    assert engine.intent.log_counts == want
    engine.intent.replace_logs([])
    assert engine.add_query_logs(sorted(ev, key=lambda e: e.timestamp)) == 2
    assert engine.intent.log_counts == want
    engine.intent.pop_search("cid")  # a shopper erased: the pending search is gone
    assert engine.add_query_logs([Event(user_id="cid", item_id="i5", type="click", timestamp=20.0)]) == 0


def test_query_logs_fed_from_threads_lose_nothing_and_never_break_a_search(engine, tmp_path):
    import threading

    errors = []

    def post(n):
        for k in range(200):
            engine.add_query_rows([(f"u{n}", "garden drill", "i5", "click", 1.0),
                                   (f"u{n}", f"q{n}-{k}", "i3", "cart", 2.0)])

    def read():
        for _ in range(200):
            try:
                engine.search("garden drill", k=3, mode="bm25")
                engine.intent.save(tmp_path / "intent")
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(4)] + [threading.Thread(target=read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    acc = engine.catalog.paths.index("Tools > Accessories")
    assert engine.intent.log_counts["garden drill"] == {acc: 800.0}
    assert len(engine.intent.log_counts) == 1 + 800


@pytest.mark.parametrize("q", ["😀😀😀", "平底锅", "кухня", "x" * 10_000, "drill " * 2000, "iphone 50", "$$$ <> %%%"])
def test_odd_queries_never_crash(engine, q):
    res = engine.search(q, k=5, facets=True)
    assert len(res.items) <= 5 and isinstance(res.total, int)


def test_bad_queries_raise_clear_errors(engine):
    for bad in ("", "  \n "):
        with pytest.raises(DataError, match="empty query"):
            engine.search(bad)
    with pytest.raises(DataError, match="must be a string"):
        engine.search(123)  # type: ignore[arg-type]
    with pytest.raises(DataError, match="k must be"):
        engine.search("drill", k=0)
    with pytest.raises(DataError, match="empty"):
        SearchEngine(encoder=HashingEncoder()).search("drill")


def test_updates_save_and_load(engine, tmp_path):
    items = make_items()
    stats = engine.upsert(items[:3] + [items[3].model_copy(update={"title": "Garden hose 100 ft kink free"}),
                                      Item(item_id="new", title="Drill press bench top", price=199.0)])
    assert stats == {"added": 1, "changed": 1, "unchanged": 3}
    engine.remove(["i1"])
    with pytest.raises(UnknownIdError):
        engine.remove(["i1"])
    res = engine.search("drill", k=10, mode="bm25")
    assert "i1" not in res.items.ids and "new" in res.items.ids
    assert "kink" in engine.vocab and "corded" not in engine.vocab
    folder = engine.save(tmp_path / "idx")
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files and all(p.suffix in {".npy", ".json"} for p in files)
    loaded = SearchEngine.load(folder, encoder=HashingEncoder())
    assert loaded.fingerprint() == engine.fingerprint()
    for q in ("drill", "garden hose", "cordles drill under 100"):
        a, b = engine.search(q, k=5), loaded.search(q, k=5)
        assert a.items.ids == b.items.ids
        np.testing.assert_allclose(a.items.scores, b.items.scores, rtol=1e-5)
    with pytest.raises(DataError):
        SearchEngine.load(tmp_path / "nothing")


def test_rrf_fusion_config(tmp_path):
    eng = SearchEngine.build(make_items(), encoder=HashingEncoder(), search=SearchConfig(fusion="rrf"))
    res = eng.search("garden hose")
    assert res.items.ids[0] in {"i3", "i6"}
    assert any(r.get("method") == "rrf" for r in res.items.reasons[0])


def test_results_do_not_depend_on_the_order_the_catalog_was_loaded_in():
    """Items with the same title tie on every score: which of them make the cut and their order follow each
    id's tie key, not its row, so loading the catalog in another order gives the same results."""
    items = [Item(item_id=f"d{i}", title="Garden hose 50 ft", price=20.0 + i) for i in range(12)]
    items += [Item(item_id="x", title="Claw hammer 16 oz", price=15.0)]
    fwd = SearchEngine.build(items, encoder=HashingEncoder(), search=SearchConfig(n_lexical=5, n_dense=5))
    rev = SearchEngine.build(items[::-1], encoder=HashingEncoder(), search=SearchConfig(n_lexical=5, n_dense=5))
    for mode in ("bm25", "dense", "hybrid"):
        a, b = fwd.search("garden hose", k=5, mode=mode), rev.search("garden hose", k=5, mode=mode)
        assert len(a.items.ids) == 5 and a.items.ids == b.items.ids, mode
    key = {i: k for i, k in zip(fwd.ids.ids, fwd.tie.tolist()) if i != "x"}
    assert fwd.search("garden hose", k=5, mode="bm25").items.ids == sorted(key, key=key.get)[:5]


def test_neighbour_lists_after_updates_equal_a_fresh_build(tmp_path):
    """The re-ranker's neighbour lists follow the catalog through upserts and removals (and a save / load):
    each item's nearest items are those of an engine built from the final catalog in another order."""
    from shopsense.index.config import IndexConfig

    cfg, items = IndexConfig(neighbours=3), make_items()
    eng = SearchEngine.build(items, index=cfg, encoder=HashingEncoder(), cache_dir=tmp_path / "a")
    changed = items[3].model_copy(update={"title": "Cordless drill hose adapter"})
    new = Item(item_id="new", title="Drill press bench top", price=199.0)
    eng.upsert([changed, new])
    eng.remove(["i1", "i6"])
    final = [changed if it.item_id == "i3" else it for it in items if it.item_id not in {"i1", "i6"}]
    fresh = SearchEngine.build(final[::-1] + [new], index=cfg, encoder=HashingEncoder(), cache_dir=tmp_path / "b")

    def lists(e):
        ids = e.ids.ids
        return {ids[r]: [ids[x] for x in e.neighbours.rows[r] if x >= 0] for r in np.flatnonzero(e.alive)}

    want = lists(fresh)
    assert len(want) == 7 and all(len(v) == 3 for v in want.values())
    assert "i1" not in sum(want.values(), []) and "new" in sum(want.values(), [])
    assert lists(eng) == want
    assert lists(SearchEngine.load(eng.save(tmp_path / "idx"), encoder=HashingEncoder())) == want
