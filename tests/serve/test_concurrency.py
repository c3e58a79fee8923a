"""Concurrent event posts lose nothing; model swaps under load never fail a request; API keys."""

from __future__ import annotations

import copy
import threading

from fastapi.testclient import TestClient


def test_concurrent_event_posts_lose_nothing(client, served, sample_user):
    _, item = sample_user
    store = served[2]
    before = store.count("events")
    errors: list[str] = []

    def worker(t: int) -> None:
        for i in range(20):
            r = client.post("/events", json={"events": [
                {"user_id": f"conc-{t}", "item_id": item, "type": "click", "timestamp": 1_700_000_000 + i}]})
            if r.status_code != 200:
                errors.append(r.text)

    def reader() -> None:  # the same shoppers are read while their profiles change
        for i in range(15):
            r = client.get(f"/recommend/conc-{i % 8}", params={"n": 5})
            if r.status_code != 200:
                errors.append(r.text)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    assert store.count("events") == before + 160
    for t in range(8):
        assert client.get(f"/users/conc-{t}/profile").json()["n_events"] == 20


def test_atomic_swap_under_load(client, sample_user):
    user, _ = sample_user
    state = client.app.state.shop
    original = state.engine
    other = copy.copy(original)
    other.version = "swapped-in"
    seen: set[str] = set()
    bad: list[str] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            r = client.get(f"/recommend/{user}", params={"n": 5})
            if r.status_code != 200 or len(r.json()["results"]) != 5:
                bad.append(r.text[:200])
            else:
                seen.add(r.json()["engine"])

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for th in threads:
        th.start()
    swaps_before = state.swaps
    for k in range(30):
        state.swap(other if k % 2 == 0 else original)
        threading.Event().wait(0.02)
    stop.set()
    for th in threads:
        th.join()
    state.swap(original)
    assert not bad
    assert state.swaps == swaps_before + 31
    assert seen <= {original.version, "swapped-in"} and seen


def test_api_keys_and_admin_reload(served, sample_user):
    from shopsense.rank.build import save_engine
    from shopsense.serve.app import create_app

    settings, engine, store = served
    from shopsense.serve.config import ServeConfig

    serve = ServeConfig.model_validate({"read_keys": ["read-secret-123"], "admin_keys": ["admin-secret-456"]})
    keyed = settings.model_copy(update={"serve": serve})
    c = TestClient(create_app(keyed, engine=engine, store=store))
    before = store.count("events")
    ev = {"events": [{"user_id": "k1", "item_id": sample_user[1], "type": "view"}]}
    assert c.get("/trending").status_code == 401
    r = c.get("/trending", headers={"X-API-Key": "nope"})
    assert r.status_code == 403 and r.json()["error"]["field"] == "X-API-Key"
    assert c.post("/events", json=ev).status_code == 401
    assert store.count("events") == before
    assert c.get("/trending", headers={"X-API-Key": "read-secret-123"}).status_code == 200
    assert c.get("/health").status_code == 200  # liveness is open
    assert c.post("/admin/reload", headers={"X-API-Key": "read-secret-123"}).status_code == 403
    save_engine(engine, settings.path("serving"))
    r = c.post("/admin/reload", headers={"X-API-Key": "admin-secret-456"})
    assert r.status_code == 200, r.text
    assert r.json()["to"] == engine.version
    assert c.get(f"/recommend/{sample_user[0]}", headers={"X-API-Key": "admin-secret-456"}).status_code == 200
    # erase a shopper: events and live profile go
    c.post("/events", json=ev, headers={"X-API-Key": "read-secret-123"})
    assert c.get("/users/k1/profile", headers={"X-API-Key": "read-secret-123"}).status_code == 200
    r = c.delete("/admin/users/k1", headers={"X-API-Key": "admin-secret-456"})
    assert r.status_code == 200 and r.json()["events_deleted"] == 1 and r.json()["profile_dropped"]
    assert c.get("/users/k1/profile", headers={"X-API-Key": "read-secret-123"}).status_code == 404
    # admin endpoints are off without admin keys
    assert TestClient(create_app(settings, engine=engine, store=store)).post("/admin/reload").status_code == 403
