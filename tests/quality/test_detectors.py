"""Each detector on small data with known answers."""
from __future__ import annotations

import numpy as np
import pytest

from shopsense.errors import DataError
from shopsense.quality.bots import detect_bots
from shopsense.quality.config import BotConfig, DuplicateConfig, MissingConfig
from shopsense.quality.duplicates import find_duplicates
from shopsense.quality.missing import apply_fills, fill_missing
from shopsense.quality.outliers import find_outliers
from shopsense.text.encoder import HashingEncoder
from shopsense.types import Dataset, Event, Item


def test_duplicates_exact_near_and_variants():
    items = [
        Item(item_id="a", title="Cordless Drill Driver 18V Lithium-Ion", brand="Makita", description="long text"),
        Item(item_id="b", title="cordless drill driver 18v lithium ion", brand="MAKITA"),  # exact after normalising
        Item(item_id="c", title="Cordless Drill-Driver 18V Lithium Ion Kit", brand="Makita"),  # near
        Item(item_id="d", title="Interior Paint Eggshell #SC-141 Tugboat", brand="Behr"),
        Item(item_id="e", title="Interior Paint Eggshell #SC-122 Redwood", brand="Behr"),  # variant, not dup
        Item(item_id="f", title="Garden Hose 50 ft", brand="Flexzilla"),
        Item(item_id="g", title="KOHLER Memoirs 2-piece 1.28 GPF Round Toilet in White", brand="Kohler"),
        Item(item_id="h", title="KOHLER Memoirs 2-piece 1.28 GPF Elongated Toilet in White", brand="Kohler"),
        Item(item_id="i", title="Cordles Drill Driver 18V Lithium Ion Pro", brand="Makita"),  # typo + extra word
    ]
    clusters = find_duplicates(items, DuplicateConfig(jaccard_threshold=0.6))
    assert len(clusters) == 1
    c = clusters[0]
    assert set(c.member_ids) == {"a", "b", "c", "i"}
    assert c.canonical_id == "a"  # the most complete record
    methods = {p[3] for p in c.pairs}
    assert "exact" in methods and "minhash" in methods


def test_duplicates_embedding_needs_vectors():
    items = [Item(item_id="a", title="x"), Item(item_id="b", title="x y")]
    with pytest.raises(DataError):
        find_duplicates(items, DuplicateConfig(method="embedding"))
    emb = np.array([[1.0, 0.0], [0.999, 0.0447]], np.float32)
    cl = find_duplicates(items, DuplicateConfig(method="embedding", cosine_threshold=0.99), embeddings=emb)
    assert [set(c.member_ids) for c in cl] == [{"a", "b"}]


def test_missing_fill_never_overwrites():
    enc = HashingEncoder()
    items = [Item(item_id=f"p{i}", title=f"acrylic paint colour {i} brush", category=["Art", "Paint"], brand="Liquitex")
             for i in range(5)]
    items += [Item(item_id=f"h{i}", title=f"garden hose {i} metre hose reel", category=["Garden"], brand="Gardena")
              for i in range(5)]
    items += [Item(item_id="q1", title="acrylic paint colour brush set"),
              Item(item_id="q2", title="garden hose reel metre", brand="ShopBrand")]
    emb = enc.encode([it.title for it in items])
    fills = fill_missing(items, emb, MissingConfig(k=3))
    got = {(f.item_id, f.field): f for f in fills}
    assert got[("q1", "category")].value == ["Art", "Paint"]
    assert got[("q1", "brand")].value == "Liquitex"
    assert got[("q2", "category")].value == ["Garden"]
    assert ("q2", "brand") not in got  # the shop gave a brand
    assert all(0 < f.confidence <= 1 and f.source.startswith("knn") for f in fills)
    filled = apply_fills(items, fills + [fills[0].__class__("q2", "brand", "Other", 1.0, "x")])
    assert filled[-1].brand == "ShopBrand" and filled[-2].brand == "Liquitex"
    assert items[-2].brand == ""  # inputs untouched


def test_outliers_within_category():
    rng = np.random.default_rng(0)
    items = [Item(item_id=f"c{i}", title="cable", category=["Electronics", "Cables"],
                  price=float(rng.uniform(8, 12)), rating=4.0 + float(rng.uniform(-0.3, 0.3))) for i in range(20)]
    items += [Item(item_id=f"s{i}", title="sofa", category=["Furniture"], price=float(rng.uniform(700, 900)))
              for i in range(20)]
    items += [Item(item_id="cheap_sofa", title="sofa", category=["Furniture"], price=5.0),
              Item(item_id="gold_cable", title="cable", category=["Electronics", "Cables"], price=800.0),
              Item(item_id="neg", title="x", category=["Furniture"], price=-1.0),
              Item(item_id="bad_rating", title="cable", category=["Electronics", "Cables"], rating=7.0),
              Item(item_id="low_rating", title="cable", category=["Electronics", "Cables"], rating=1.0)]
    got = {(o.item_id, o.field): o for o in find_outliers(items)}
    assert set(got) == {("cheap_sofa", "price"), ("gold_cable", "price"), ("neg", "price"),
                        ("bad_rating", "rating"), ("low_rating", "rating")}
    assert "below" in got[("cheap_sofa", "price")].reason and "Furniture" in got[("cheap_sofa", "price")].reason
    assert "above" in got[("gold_cable", "price")].reason


def _bot_dataset():
    rng = np.random.default_rng(1)
    items = [Item(item_id=f"i{k}", title=f"item {k}") for k in range(60)]
    ev: list[Event] = []
    t0 = 1_700_000_000.0
    for u in range(40):  # humans: views then some clicks/purchases, minutes to hours apart
        t = t0 + u * 1000
        for _ in range(int(rng.integers(6, 15))):
            i = f"i{int(rng.integers(0, 60))}"
            t += float(rng.uniform(30, 3000))
            ev.append(Event(user_id=f"h{u}", item_id=i, type="view", timestamp=t))
            if rng.random() < 0.4:
                t += float(rng.uniform(5, 60))
                ev.append(Event(user_id=f"h{u}", item_id=i, type="click", timestamp=t))
    for k in range(2):  # fast bot: 100 clicks in under a minute
        for j in range(100):
            ev.append(Event(user_id=f"fast{k}", item_id=f"i{j % 3}", type="view", timestamp=t0 + j * 0.5))
    for j in range(12):  # click-without-view bot, human speed
        ev.append(Event(user_id="cwv", item_id=f"i{j % 4}", type="click", timestamp=t0 + j * 400))
    for k in range(5):  # five accounts replaying one sequence, slowly
        for j in range(8):
            ev.append(Event(user_id=f"replay{k}", item_id=f"i{10 + j}", type="view", timestamp=t0 + k * 7 + j * 600))
    for k in range(6):  # shilling: six 5-star ratings of i50 inside an hour
        ev.append(Event(user_id=f"h{k}", item_id="i50", type="rating", value=5.0, timestamp=t0 + 90_000 + k * 300))
    ev.append(Event(user_id="h7", item_id="i51", type="rating", value=5.0, timestamp=t0 + 90_000))  # lone rating
    return Dataset.from_records(items, ev)


def test_bots_rules_and_event_flags():
    ds = _bot_dataset()
    res = detect_bots(ds, BotConfig(iforest=False))
    flagged = set(res.flagged_users)
    assert {"fast0", "fast1", "cwv", "replay0", "replay1", "replay4"} <= flagged
    reasons = dict(zip(res.user_ids, res.rules))
    assert any(r.startswith("rate") for r in reasons["fast0"])
    assert any(r.startswith("click-without-view") for r in reasons["cwv"])
    assert any(r.startswith("repeated sequence") for r in reasons["replay1"])
    humans_flagged = {u for u in flagged if u.startswith("h")}
    assert humans_flagged == {f"h{k}" for k in range(6)}  # only via the rating burst
    mask = res.event_mask(len(ds.events))
    # the shill users keep their other events; only the burst ratings are flagged
    rating_rows = np.flatnonzero(ds.events.type == 4)
    burst = [r for r in rating_rows if ds.items[ds.events.item[r]].item_id == "i50"]
    assert mask[burst].all()
    lone = [r for r in rating_rows if ds.items[ds.events.item[r]].item_id == "i51"]
    assert not mask[lone].any()
    h0 = ds.user_vocab["h0"]
    assert mask[ds.events.user == h0].sum() == 1
    with pytest.raises(DataError):
        res.store_rows(ds)  # no store ids


def test_bots_iforest_scores_fast_bots_highest():
    ds = _bot_dataset()
    res = detect_bots(ds, BotConfig(iforest=True))
    s = dict(zip(res.user_ids, res.iforest_score))
    humans = [v for u, v in s.items() if u.startswith("h")]
    assert s["fast0"] > np.percentile(humans, 90)
    assert np.all((res.score >= 0) & (res.score <= 1))
