"""Two server processes on one store: what one learns live reaches the other through the live log."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient


def _two_apps(served):
    from shopsense.serve.app import create_app
    from shopsense.store import open_store

    settings, engine, _ = served
    # each "process" has its own connection to the same SQLite file, as uvicorn workers would
    a = create_app(settings, engine=engine, store=open_store(settings.resolved_store_url()))
    b = create_app(settings, engine=engine, store=open_store(settings.resolved_store_url()))
    return a, b


def test_event_posted_to_one_server_reaches_the_other(served, sample_user):
    _, item = sample_user
    a, b = _two_apps(served)
    ca, cb = TestClient(a), TestClient(b)
    assert cb.get("/users/sync-shopper/profile").status_code == 404
    r = ca.post("/events", json={"events": [{"user_id": "sync-shopper", "item_id": item, "type": "purchase"}]})
    assert r.status_code == 200
    assert ca.get("/users/sync-shopper/profile").json()["n_events"] == 1  # at once where it was posted
    assert b.state.shop.sync.poll() == 1
    assert cb.get("/users/sync-shopper/profile").json()["n_events"] == 1
    assert a.state.shop.sync.poll() == 0  # a server does not replay its own entries
    # a re-sent event is not logged (nor counted) twice
    ca.post("/events", json={"events": [{"user_id": "sync-shopper", "item_id": item, "type": "purchase",
                                         "timestamp": 1_700_000_123}]})
    ca.post("/events", json={"events": [{"user_id": "sync-shopper", "item_id": item, "type": "purchase",
                                         "timestamp": 1_700_000_123}]})
    assert b.state.shop.sync.poll() == 1
    assert cb.get("/users/sync-shopper/profile").json()["n_events"] == 2


def test_forget_on_one_server_drops_the_profile_on_the_other(served, sample_user):
    from pydantic import SecretStr

    from shopsense.serve.app import create_app
    from shopsense.store import open_store

    _, item = sample_user
    settings, engine, _ = served
    admin = settings.model_copy(update={"serve": settings.serve.model_copy(update={"admin_keys": [SecretStr("adm")]})})
    a = create_app(admin, engine=engine, store=open_store(settings.resolved_store_url()))
    b = create_app(settings, engine=engine, store=open_store(settings.resolved_store_url()))
    ca, cb = TestClient(a), TestClient(b)
    ca.post("/events", json={"events": [{"user_id": "forget-me", "item_id": item, "type": "view"}]})
    b.state.shop.sync.poll()
    assert cb.get("/users/forget-me/profile").status_code == 200
    r = ca.delete("/admin/users/forget-me", headers={"X-API-Key": "adm"})
    assert r.status_code == 200 and r.json()["events_deleted"] == 1
    b.state.shop.sync.poll()
    assert cb.get("/users/forget-me/profile").status_code == 404
    # the erased shopper's events are gone from the live log too (only the forget record names the pseudonym)
    key = a.state.shop.pseudo.user("forget-me")
    kinds = [r[2] for r in a.state.shop.store.live_since(0) if r[3] == key]
    assert kinds == ["forget"]


def test_background_sync_thread_picks_events_up(served, sample_user):
    _, item = sample_user
    a, b = _two_apps(served)
    with TestClient(a) as ca, TestClient(b) as cb:  # context managers run startup: the sync threads start
        ca.post("/events", json={"events": [{"user_id": "bg-shopper", "item_id": item, "type": "click"}]})
        deadline = time.time() + 5
        while cb.get("/users/bg-shopper/profile").status_code != 200:
            assert time.time() < deadline, "the other server never saw the event"
            time.sleep(0.05)


def test_a_search_learned_on_one_server_reaches_the_others_and_a_restart(served):
    """Each process has its own search engine: the query behind a posted purchase reaches the other's category
    intent through the live log, and a server started later learns it from the stored events."""
    from shopsense.rank.build import build_engine
    from shopsense.serve.app import create_app
    from shopsense.store import open_store
    from shopsense.text.normalize import normalize

    settings, engine_a, store = served
    engine_b = build_engine(settings, store.load_dataset(), with_search=True, train_ranker=False)
    a = create_app(settings, engine=engine_a, store=open_store(settings.resolved_store_url()))
    b = create_app(settings, engine=engine_b, store=open_store(settings.resolved_store_url()))
    se_a, se_b = engine_a.sources.search_engine, engine_b.sources.search_engine
    assert se_a is not se_b
    q, row = "zq synced search", next(r for r in range(len(se_a.ids)) if se_a.catalog.category[r] >= 0)
    item, code = se_a.ids.ids[row], int(se_a.catalog.category[row])
    r = TestClient(a).post("/events", json={"events": [
        {"user_id": "sync-searcher", "item_id": item, "type": "purchase", "query": q},
        {"user_id": "sync-searcher", "item_id": item, "type": "view", "query": q}]})  # a view teaches nothing
    assert r.status_code == 200
    assert se_a.intent.log_counts[normalize(q)] == {code: 3.0}
    assert normalize(q) not in se_b.intent.log_counts
    assert b.state.shop.sync.poll() == 2
    assert se_b.intent.log_counts[normalize(q)] == {code: 3.0}
    # a search logged apart from the purchase that follows it, posted in two requests
    q2 = "zq synced session"
    ca = TestClient(a)
    assert ca.post("/events", json={"events": [{"user_id": "sync-searcher-2", "type": "search", "query": q2,
                                                "timestamp": 1_700_000_000}]}).status_code == 200
    assert ca.post("/events", json={"events": [{"user_id": "sync-searcher-2", "item_id": item, "type": "click",
                                                "timestamp": 1_700_000_060}]}).status_code == 200
    assert se_a.intent.log_counts[normalize(q2)] == {code: 1.0}
    assert b.state.shop.sync.poll() == 2
    assert se_b.intent.log_counts[normalize(q2)] == {code: 1.0}
    # a server started now rebuilds the logs from the store (what B learned live is not counted twice)
    create_app(settings, engine=engine_b, store=open_store(settings.resolved_store_url()))
    assert se_b.intent.log_counts[normalize(q)] == {code: 3.0}
    assert se_b.intent.log_counts[normalize(q2)] == {code: 1.0}
    assert TestClient(b).get("/search", params={"q": q}).json()["parsed"]["category"][0][0] == se_b.catalog.paths[code]
