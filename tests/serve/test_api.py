"""API contract: every endpoint answers with explanations; bad input gets a clear 4xx and stores nothing."""

from __future__ import annotations

import json
import time

import pytest


def n_events(served) -> int:
    return served[2].count("events")


def test_health_and_docs(client):
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["items"] == 4379
    assert {"search", "cf", "similar", "trending"} <= set(h["sources"])
    assert "/recommend/{user}" in client.get("/openapi.json").json()["paths"]


def test_search_has_explanations_and_facets(client):
    r = client.get("/search", params={"q": "3d printer filament", "n": 5})
    assert r.status_code == 200
    body = r.json()
    assert len(body["results"]) == 5 and body["total"] >= 5 and body["facets"]["brand"]
    first = body["results"][0]
    assert "filament" in first["title"].lower() or "printer" in first["title"].lower()
    assert first["explanation"].startswith("Matches")
    assert first["breakdown"]["sources"]["search"]["rank"] >= 1


def test_search_filters_and_validation(client):
    r = client.get("/search", params={"q": "tape", "brand": "3M", "n": 5})
    assert r.status_code == 200 and all(x["brand"].lower() == "3m" for x in r.json()["results"])
    r = client.get("/search", params={"q": "", "n": 5})
    assert r.status_code == 422 and r.json()["error"]["field"] == "query.q"
    r = client.get("/search", params={"q": "tape", "n": 1000})
    assert r.status_code == 422 and r.json()["error"]["field"] == "n"
    r = client.get("/search", params={"q": "tape", "n": "ten"})
    assert r.status_code == 422 and "n" in r.json()["error"]["field"]


def test_recommend_known_and_cold_user(client, sample_user):
    user, _ = sample_user
    r = client.get(f"/recommend/{user}", params={"n": 8}).json()
    assert r["known"] and len(r["results"]) == 8
    assert all(x["explanation"] and x["breakdown"]["sources"] for x in r["results"])
    assert len({x["item_id"] for x in r["results"]}) == 8
    cold = client.get("/recommend/nobody-at-all", params={"n": 5}).json()
    assert not cold["known"] and len(cold["results"]) == 5
    assert all(x["explanation"].startswith("Popular in") for x in cold["results"])


def test_item_pages_and_unknown_ids(client, sample_user):
    _, item = sample_user
    s = client.get(f"/items/{item}/similar", params={"n": 5}).json()["results"]
    assert s and item not in {x["item_id"] for x in s} and s[0]["explanation"].startswith("Similar to")
    bt = client.get(f"/items/{item}/bought-together").json()["results"]
    assert all(x["explanation"].startswith("Often bought together") for x in bt)
    for path in ("/items/NOPE", "/items/NOPE/similar", "/items/NOPE/bought-together"):
        r = client.get(path)
        assert r.status_code == 404 and r.json()["error"]["field"] == "item_id"
    assert client.get("/users/never-seen/profile").status_code == 404


@pytest.mark.parametrize("slots", [2, 0])
def test_a_fresh_shoppers_click_shows_in_the_rail_whatever_the_ranker(served, slots):
    """A ranker that sinks "because you viewed X" sources (a learned one fitted on few sessions can
    rank them all below weak collaborative ones) still shows two items explained by a new shopper's
    click, through rank.recent_slots; with the rule off the same ranker leaves several clicks with
    less (so the check can fail)."""
    import random

    from shopsense.rank.engine import ServingEngine
    from shopsense.rank.profile import ProfileBook

    settings, engine, _ = served
    cfg = engine.config.model_copy(update={"ranker": "rules", "recent_slots": slots, "rule_weights": {
        "rr_cf": 1.0, "rr_trending": 1.0, "log_popularity": 1.0, "rr_similar": -5.0, "rr_bought_together": -5.0}})
    blind = ServingEngine(engine.items, engine.sources, cfg, engine.popularity)
    book = ProfileBook(settings.rank.event_weights)
    with_similar = [i for i in sorted(engine.items) if engine.similar(i, 3)]
    explained = []
    for k, item in enumerate(random.Random(3).sample(with_similar, 25)):
        book.apply([(f"fresh-{k}", item, "click", 1.0)], engine.items.get)
        rec = blind.recommend(f"fresh-{k}", book.get(f"fresh-{k}"), 10)
        explained.append(sum(any(s.get("because") == item for s in x["breakdown"]["sources"].values()) for x in rec))
    if slots:
        assert min(explained) >= 2, explained
    else:
        assert sum(e < 2 for e in explained) >= 3, explained  # 6 of 25 when written


def test_trending(client):
    r = client.get("/trending", params={"n": 4}).json()["results"]
    assert len(r) == 4 and "this week" in r[0]["explanation"]


def test_event_is_stored_pseudonymised_and_visible_at_once(client, served, sample_user):
    _, item = sample_user
    before = n_events(served)
    user = "web-visitor-1"
    t0 = time.perf_counter()
    r = client.post("/events", json={"events": [{"user_id": user, "item_id": item, "type": "view"}]})
    assert r.status_code == 200 and r.json()["accepted"] == 1
    rec = client.get(f"/recommend/{user}", params={"n": 10}).json()
    elapsed = time.perf_counter() - t0
    assert n_events(served) == before + 1
    assert rec["known"] and elapsed < 1.0
    assert any(x["breakdown"]["sources"].get("similar", {}).get("because") == item for x in rec["results"])
    assert any(x["explanation"].startswith("Because you viewed") for x in rec["results"])
    prof = client.get(f"/users/{user}/profile").json()
    assert prof["recent"][0]["item_id"] == item and prof["live_events"] == 1
    # the raw id never reaches the store
    raw = served[2].conn.execute("SELECT COUNT(*) FROM events WHERE user_key=?", (user,)).fetchone()[0] \
        if hasattr(served[2], "conn") else 0
    assert raw == 0


def test_a_purchase_after_a_search_teaches_that_query_its_category_at_once(client, served):
    se = served[1].sources.search_engine
    q = "zq intent probe"
    before = client.get("/search", params={"q": q, "n": 5}).json()["parsed"]["category"]
    shown = {path for path, _ in before}
    # an item of a category the query's text does not suggest
    row = next(r for r in range(len(se.ids)) if se.catalog.category[r] >= 0
               and se.catalog.paths[se.catalog.category[r]] not in shown)
    item, path = se.ids.ids[row], se.catalog.paths[se.catalog.category[row]]
    r = client.post("/events", json={"events": [{"user_id": "intent-shopper", "item_id": item, "type": "purchase",
                                                 "query": q}]})
    assert r.status_code == 200
    after = client.get("/search", params={"q": q, "n": 5}).json()
    # the query's category intent (a soft boost of that category's candidates; engine tests check the boost)
    assert after["parsed"]["category"][0][0] == path and after["parsed"]["category"][0][1] >= 0.5


def test_rejected_requests_store_nothing(client, served, sample_user):
    _, item = sample_user
    before = n_events(served)
    ok = {"user_id": "u-bad", "item_id": item, "type": "view"}
    cases = [
        (b'{"events": [', 400, "invalid_json"),
        (json.dumps({"events": [ok, {**ok, "item_id": "NOT-AN-ITEM"}]}).encode(), 422, "events.1.item_id"),
        (json.dumps({"events": [{**ok, "type": "teleport"}]}).encode(), 422, "events.0.type"),
        (json.dumps({"events": [{**ok, "timestamp": "yesterday-ish"}]}).encode(), 422, "events.0.timestamp"),
        (json.dumps({"events": [{"item_id": item, "type": "view"}]}).encode(), 422, "events.0.user_id"),
        (json.dumps({"events": [{**ok, "colour": "red"}]}).encode(), 422, "events.0.colour"),
        (json.dumps({"events": []}).encode(), 422, "events"),
        (json.dumps({"events": [ok] * 2000}).encode(), 413, "too_many_events"),
        (b"x" * 300_000, 413, "body_too_large"),
    ]
    for body, status, what in cases:
        r = client.post("/events", content=body, headers={"content-type": "application/json"})
        assert r.status_code == status, (what, r.text[:300])
        err = r.json()["error"]
        assert what in (err.get("field", ""), err["code"]), err
        assert err["message"]
    assert n_events(served) == before
    assert client.get("/users/u-bad/profile").status_code == 404


def test_metrics_histograms(client):
    client.get("/search", params={"q": "glue"})
    m = client.get("/metrics").json()["routes"]
    assert m["/search"]["count"] >= 1 and m["/search"]["histogram_ms_le"]["+Inf"] == m["/search"]["count"]
    text = client.get("/metrics", params={"format": "prometheus"}).text
    assert 'shopsense_request_ms_bucket{route="/search"' in text


def test_resent_event_is_stored_and_counted_once(client, served, sample_user):
    _, item = sample_user
    ev = {"events": [{"user_id": "resender-1", "item_id": item, "type": "view", "timestamp": 1_700_000_000}]}
    before = n_events(served)
    first, again = client.post("/events", json=ev).json(), client.post("/events", json=ev).json()
    assert (first["stored_new"], again["stored_new"]) == (1, 0)
    assert n_events(served) == before + 1
    assert client.get("/users/resender-1/profile").json()["live_events"] == 1


def test_hot_endpoint_json_writes_numpy_and_non_finite_numbers():
    import json

    import numpy as np

    from shopsense.serve.routes import _json

    body = json.loads(_json({"score": float("nan"), "inf": float("inf"), "x": np.float32(0.5), "n": np.int64(3),
                             "v": np.arange(3), 7: "int key", "t": "ümlaut ✓"}).body)
    assert body == {"score": None, "inf": None, "x": 0.5, "n": 3, "v": [0, 1, 2], "7": "int key", "t": "ümlaut ✓"}
