from __future__ import annotations

import pytest

from shopsense.errors import ConfigError, UnknownIdError
from shopsense.store import open_store
from shopsense.types import Event, Item


def _fill(store):
    store.upsert_items([Item(item_id=i, title=f"t{i}", category=["C", i]) for i in "abc"])
    ev = [Event(user_id="u1", item_id="a", type="view", timestamp=1_600_000_000),
          Event(user_id="u1", item_id="b", type="view", timestamp=1_600_000_060),
          Event(user_id="u1", item_id="c", type="purchase", timestamp=1_600_010_000),  # > 30 min later: new session
          Event(user_id="u2", item_id="b", type="cart", timestamp=1_600_000_000, session_id="s9")]
    assert store.add_events(ev) == 4
    assert store.add_events(ev) == 0  # idempotent


def test_open_store_urls(tmp_path):
    with pytest.raises(ConfigError, match="not built yet"):
        open_store("postgresql://x/y")
    with pytest.raises(ConfigError, match="unsupported"):
        open_store("mysql://x")
    assert open_store(f"sqlite:///{tmp_path}/a/b.db").count("items") == 0


def test_load_dataset_sessionises(store):
    _fill(store)
    ds = store.load_dataset()
    assert ds.n_items == 3 and ds.n_users == 2 and len(ds.events) == 4
    u1 = ds.events.user == ds.user_vocab["u1"]
    sess = ds.events.session[u1]
    assert sess[0] == sess[1] != sess[2]  # the 30-minute gap starts a new session
    assert (ds.events.session[~u1] >= 0).all()  # given session kept
    assert ds.events.event_id is not None and len(set(ds.events.event_id.tolist())) == 4


def test_flags_exclude_from_dataset_but_keep_rows(store):
    _fill(store)
    eid = int(store.load_dataset().events.event_id[0])
    store.flag_events([(eid, "bot", 0.9, "too fast")])
    assert len(store.load_dataset().events) == 3
    assert len(store.load_dataset(include_flagged=True).events) == 4
    assert store.count("events") == 4


def test_merge_is_reversible_and_audited(store):
    _fill(store)
    mid = store.merge_items("a", ["b"])
    ds = store.load_dataset()
    assert ds.n_items == 2 and "b" not in ds.item_vocab
    assert (ds.events.item == ds.item_vocab["a"]).sum() == 3  # events on b count for a
    store.unmerge(mid)
    assert store.load_dataset().n_items == 3
    assert [a["action"] for a in store.audit_log()][:2] == ["unmerge", "merge_items"]
    with pytest.raises(UnknownIdError):
        store.merge_items("a", ["zz"])


def test_delete_user(store):
    _fill(store)
    assert store.delete_user("u1") == 3
    assert store.count("events") == 1 and store.count("users") == 1
    assert store.audit_log()[0]["action"] == "delete_user"


def test_stats(store):
    _fill(store)
    st = store.stats()
    assert st["items"] == 3 and st["events"] == 4 and st["event_types"] == {"view": 2, "purchase": 1, "cart": 1}
    assert st["top_categories"] == [("C", 3)]
