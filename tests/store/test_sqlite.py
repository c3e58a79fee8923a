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


def test_old_rowid_event_table_is_migrated_without_loss(tmp_path):
    import sqlite3

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id INTEGER NOT NULL UNIQUE, user_key TEXT NOT NULL, "
        "item_id TEXT, type INTEGER NOT NULL, value REAL, query TEXT, ts REAL NOT NULL, session TEXT);"
        "CREATE VIEW users AS SELECT user_key, COUNT(*) AS n_events FROM events GROUP BY user_key;")
    con.executemany("INSERT INTO events (event_id, user_key, item_id, type, value, query, ts, session) "
                    "VALUES (?,?,?,?,?,?,?,?)", [(7, "u1", "a", 0, None, None, 5.0, None),
                                                 (8, "u1", "b", 0, None, None, 5.0, "s"),
                                                 (-3, "u2", "a", 3, 1.0, None, 1.0, None)])
    con.commit()
    con.close()
    s = open_store(f"sqlite:///{path}")
    cols = [r[1] for r in s.conn.execute("PRAGMA table_info(events)")]
    assert "seq" not in cols
    assert s.conn.execute("SELECT event_id, user_key, ts FROM events ORDER BY ts, event_id").fetchall() == [
        (-3, "u2", 1.0), (7, "u1", 5.0), (8, "u1", 5.0)]
    assert s.conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 2
    open_store(f"sqlite:///{path}")  # opening again is a no-op


def test_live_log_from_before_queries_were_shared_gets_the_column_and_keeps_its_rows(tmp_path):
    import sqlite3

    from shopsense.types import Event

    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(
        "CREATE TABLE live_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, kind TEXT NOT NULL, "
        "user_key TEXT, item_id TEXT, type TEXT, ts REAL, created REAL NOT NULL);"
        "INSERT INTO live_log (origin, kind, user_key, item_id, type, ts, created) "
        "VALUES ('p1', 'event', 'u1', 'a', 'view', 5.0, 6.0);")
    con.commit()
    con.close()
    s = open_store(f"sqlite:///{path}")
    assert s.live_since(0) == [(1, "p1", "event", "u1", "a", "view", 5.0, None)]
    s.upsert_items([Item(item_id="a", title="t")])
    s.add_new_events([Event(user_id="u2", item_id="a", type="purchase", query="red mug", timestamp=7.0)], origin="p2")
    assert s.live_since(1) == [(2, "p2", "event", "u2", "a", "purchase", 7.0, "red mug")]
    s.close()
    open_store(f"sqlite:///{path}").close()  # opening again is a no-op


def test_given_ids_are_unique_whatever_their_time(store):
    store.upsert_items([Item(item_id="a", title="t")])
    assert store.add_events([Event(event_id=11, user_id="u", item_id="a", type="view", timestamp=100.0)]) == 1
    # the shop re-sends event 11 with a new time stamp: still the same event
    assert store.add_events([Event(event_id=11, user_id="u", item_id="a", type="view", timestamp=200.0)]) == 0
    # content ids (even) are keyed with their time: the same id at another time is another event
    assert store.add_events([Event(event_id=12, user_id="u", item_id="a", type="view", timestamp=100.0),
                             Event(event_id=12, user_id="u", item_id="a", type="view", timestamp=300.0)]) == 2
    assert store.count("events") == 3


def _cols(rows):
    from shopsense.store.base import EventColumns

    # (line, event_id, user_key, item_id, type, value, query, ts, session)
    return EventColumns.from_rows([(ln, eid, "uk", "a", 0, None, None, ts, None) for ln, eid, ts in rows])


def test_event_columns_are_stored_like_rows_and_duplicates_still_caught(store):
    """The ingest fast path hands blocks as columns. New rows go straight in; a block with a repeat
    inside it, a row already stored, or a shop-given (odd) id takes the row path: same outcome."""
    run = store.begin_run("events", "sha-cols", "events.csv")
    res = store.commit_chunk(run, _cols([(1, 2, 10.0), (2, 4, 11.0), (3, 6, 12.0)]), [], 3)
    assert res.accepted == 3 and store.count("events") == 3
    # ts 12.0 is not later than the newest stored event: (12.0, 6) is probed and found; (12.0, 8) is new
    res = store.commit_chunk(run, _cols([(4, 6, 12.0), (5, 8, 12.0), (6, 10, 13.0)]), [], 6)
    assert res.accepted == 2 and res.rejected == {"duplicate_id": 1}
    # the same content twice in one block: the first line is kept
    res = store.commit_chunk(run, _cols([(7, 14, 20.0), (8, 14, 20.0)]), [], 8)
    assert res.accepted == 1 and res.rejected == {"duplicate_id": 1}
    # a shop-given id (odd) that is already stored, under another time stamp
    store.commit_chunk(run, _cols([(9, 21, 30.0)]), [], 9)
    res = store.commit_chunk(run, _cols([(10, 21, 40.0), (11, 22, 41.0)]), [], 11)
    assert res.accepted == 1 and res.rejected == {"duplicate_id": 1}
    assert store.count("events") == 8
    lines = [q.line for q in store.quarantine_rows("duplicate_id")]
    assert lines == [4, 8, 10]
    assert _cols([(1, 2, 10.0)]).rows() == [(1, 2, "uk", "a", 0, None, None, 10.0, None)]


def test_a_block_mixing_plain_rated_and_search_events_is_stored_exactly(store):
    """Rows without value and query are inserted through a narrower statement than the others: over
    several 200-row statements and a remainder, every row must come back exactly as given."""
    from shopsense.store.base import EventColumns

    rows = []
    for k in range(1, 1_003):
        value = float(k % 5) if k % 7 == 0 else None  # ratings
        query = f"q{k}" if k % 11 == 0 else None  # searches
        item = None if query and k % 2 else f"i{k % 13}"
        rows.append((k, 2 * k, f"u{k % 17}", item, k % 4, value, query, 1_600_000_000.0 + k, f"s{k // 50}" if k % 3 else None))
    run = store.begin_run("events", "sha-mixed", "mixed.csv")
    assert store.commit_chunk(run, EventColumns.from_rows(rows), [], len(rows)).accepted == len(rows)
    got = store.conn.execute("SELECT event_id, user_key, item_id, type, value, query, ts, session FROM events "
                             "ORDER BY ts").fetchall()
    assert got == [r[1:] for r in rows]
