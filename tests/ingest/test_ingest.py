from __future__ import annotations

import csv
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shopsense.errors import DataError
from shopsense.ingest import loader
from shopsense.ingest.loader import ingest_file
from shopsense.store import open_store

ITEMS_CSV = (
    "item_id,title,price,category,brand,rating,stock,color\n"
    "A1,Red shoe,10.5,Shoes > Red,Acme,4.5,3,red\n"
    "A2,,3,Shoes,Acme,,,\n"            # missing title
    "A1,Red shoe again,4,Shoes,Acme,,,\n"  # duplicate id
    "A3,Blue shoe,abc,Shoes,Acme,,,\n"  # wrong type
    "A4,Green shoe,-1,Shoes,,,,\n"      # negative price
    "A5,Boot,20,Shoes > Boots,,,,\n"
    "A6,Tr"                               # truncated last line
)


def reasons(store):
    return {(q.line, q.reason) for q in store.quarantine_rows(limit=1000)}


def test_items_validation_lands_in_quarantine(tmp_path, store, pseudo, quiet_cfg):
    p = tmp_path / "items.csv"
    p.write_text(ITEMS_CSV)
    r = ingest_file(store, p, "items", pseudonymizer=pseudo, config=quiet_cfg)
    assert r.accepted == 2
    assert reasons(store) == {(3, "missing_field"), (4, "duplicate_id"), (5, "bad_type"), (6, "bad_value"),
                              (8, "malformed_row")}
    a1 = store.get_item("A1")
    assert a1.title == "Red shoe" and a1.category == ["Shoes", "Red"] and a1.attributes == {"color": "red"}
    assert a1.price == 10.5 and a1.stock == 3 and a1.rating == 4.5
    q = {x.reason: x for x in store.quarantine_rows(limit=100)}
    assert q["bad_type"].field == "price" and "abc" in q["bad_type"].detail and q["bad_type"].source == str(p)


def _events(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")


def test_events_validation(tmp_path, store, pseudo, quiet_cfg):
    p = tmp_path / "ev.jsonl"
    _events(p, [
        {"user_id": "u1", "item_id": "A1", "type": "view", "timestamp": "2024-01-01T10:00:00Z"},
        {"user_id": "u1", "item_id": "A1", "type": "teleport", "timestamp": 1700000000},   # unknown type
        {"user_id": "u2", "type": "search", "query": "red shoe", "timestamp": 1700000000},
        {"user_id": "u2", "item_id": "A1", "type": "purchase", "timestamp": "yesterday"},  # bad timestamp
        {"item_id": "A1", "type": "view", "timestamp": 1700000000},                          # missing user
        {"user_id": "u3", "item_id": "A1", "type": "rating", "value": "x", "timestamp": 1700000000},  # wrong type
        {"user_id": "u3", "item_id": "A1", "type": "rating", "value": 9, "timestamp": 1700000000},    # out of range
        {"user_id": "u1", "item_id": "A1", "type": "view", "timestamp": "2024-01-01T10:00:00Z"},  # duplicate
        {"user_id": "u4", "item_id": "A1", "type": "add_to_cart", "timestamp": 1700000000000},  # alias + epoch ms
    ])
    with open(p, "ab") as f:
        f.write(b'{"user_id": "u\xff", "item_id": "A1", "type": "view", "timestamp": 1}\n')
        f.write(b'{"user_id": "u5", "item_id":')
    r = ingest_file(store, p, "events", pseudonymizer=pseudo, config=quiet_cfg)
    assert r.accepted == 3
    assert reasons(store) == {(2, "unknown_event_type"), (4, "bad_timestamp"), (5, "missing_field"),
                              (6, "bad_type"), (7, "bad_value"), (8, "duplicate_id"), (10, "non_utf8"),
                              (11, "invalid_json")}
    assert store.load_dataset().events.type.tolist() == [5]  # events on items not in the catalog are left out
    from shopsense.types import Item

    store.upsert_items([Item(item_id="A1", title="Red shoe")])
    ds = store.load_dataset()
    assert sorted(ds.events.type.tolist()) == [0, 2, 5]  # view, cart, search
    assert ds.events.timestamp[ds.events.type == 2].tolist() == [1700000000.0]  # epoch ms -> s


def test_missing_required_column_is_a_clear_error(tmp_path, store, pseudo, quiet_cfg):
    p = tmp_path / "ev.csv"
    p.write_text("user,item\nu1,A1\n")
    with pytest.raises(DataError, match=r"required column\(s\) type, timestamp"):
        ingest_file(store, p, "events", pseudonymizer=pseudo, config=quiet_cfg)


def test_empty_file_is_reported(tmp_path, store, pseudo, quiet_cfg):
    p = tmp_path / "empty.csv"
    p.write_text("")
    r = ingest_file(store, p, "items", pseudonymizer=pseudo, config=quiet_cfg)
    assert r.accepted == 0 and r.rejected == {"empty_file": 1}


def test_parquet_items(tmp_path, store, pseudo, quiet_cfg):
    p = tmp_path / "items.parquet"
    pq.write_table(pa.table({"item_id": ["p1", "p2", "p3"], "title": ["a", "b", None],
                             "price": [1.0, None, 2.0], "category": [["X", "Y"], [], ["X"]]}), p)
    r = ingest_file(store, p, "items", pseudonymizer=pseudo, config=quiet_cfg)
    assert r.accepted == 2 and r.rejected == {"missing_field": 1}
    assert store.get_item("p1").category == ["X", "Y"]


def _big_events(path, n):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "item_id", "type", "timestamp"])
        for k in range(n):
            w.writerow([f"user{k % 97}", f"I{k % 50}", "view" if k % 3 else "purchase", 1_600_000_000 + k])


def test_reingest_is_idempotent(tmp_path, store, pseudo, quiet_cfg):
    p = tmp_path / "ev.csv"
    _big_events(p, 2500)
    r1 = ingest_file(store, p, "events", pseudonymizer=pseudo, config=quiet_cfg)
    r2 = ingest_file(store, p, "events", pseudonymizer=pseudo, config=quiet_cfg)
    assert r1.accepted == 2500 and r2.status == "already ingested"
    assert store.count("events") == 2500 and store.count("quarantine") == 0
    # the same rows in a different file (e.g. a re-export) are recognised as duplicates
    p2 = tmp_path / "ev_copy.csv"
    p2.write_text(p.read_text() + "user1,I1,view,1500000000\n")
    r3 = ingest_file(store, p2, "events", pseudonymizer=pseudo, config=quiet_cfg)
    assert r3.accepted == 1 and r3.rejected == {"duplicate_id": 2500}
    assert store.count("events") == 2501


def test_items_reingest_updates_not_duplicates(tmp_path, store, pseudo, quiet_cfg):
    p = tmp_path / "a.csv"
    p.write_text("item_id,title,price\nX,old,1\nY,y,2\n")
    ingest_file(store, p, "items", pseudonymizer=pseudo, config=quiet_cfg)
    p2 = tmp_path / "b.csv"
    p2.write_text("item_id,title,price\nX,new,3\n")
    r = ingest_file(store, p2, "items", pseudonymizer=pseudo, config=quiet_cfg)
    assert r.updated == 1 and r.accepted == 0
    assert store.count("items") == 2 and store.get_item("X").title == "new"


def test_crash_mid_ingest_row_path_leaves_store_consistent_and_resumes(tmp_path, store, pseudo, quiet_cfg, monkeypatch):
    p = tmp_path / "ev.jsonl"
    _events(p, [{"user_id": f"user{k % 97}", "item_id": f"I{k % 50}", "type": "view", "timestamp": 1_600_000_000 + k}
                for k in range(3500)])
    real = loader.EventValidator.__call__
    calls = {"n": 0}

    def exploding(self, row):
        calls["n"] += 1
        if calls["n"] == 2300:  # inside the third chunk of 1,000
            raise RuntimeError("power cut")
        return real(self, row)

    monkeypatch.setattr(loader.EventValidator, "__call__", exploding)
    with pytest.raises(RuntimeError):
        ingest_file(store, p, "events", pseudonymizer=pseudo, config=quiet_cfg)
    # exactly the committed chunks are there: nothing half-written
    assert store.count("events") == 2000
    monkeypatch.setattr(loader.EventValidator, "__call__", real)
    r = ingest_file(store, p, "events", pseudonymizer=pseudo, config=quiet_cfg)
    assert r.status == "resumed" and r.accepted == 1500
    assert store.count("events") == 3500 and store.count("quarantine") == 0


def test_crash_mid_ingest_fast_path_resumes(tmp_path, store, pseudo, monkeypatch):
    from shopsense.ingest import columnar
    from shopsense.ingest.config import IngestConfig

    cfg = IngestConfig(progress=False, block_bytes=16 << 10)
    p = tmp_path / "ev.csv"
    _big_events(p, 3500)
    real = columnar._validate_block
    calls = {"n": 0}

    def exploding(*a):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("power cut")
        return real(*a)

    monkeypatch.setattr(columnar, "_validate_block", exploding)
    with pytest.raises(RuntimeError):
        ingest_file(store, p, "events", pseudonymizer=pseudo, config=cfg)
    (checkpoint,) = store.conn.execute("SELECT lines_done FROM ingest_runs").fetchone()
    assert 0 < store.count("events") < 3500
    assert store.count("events") == checkpoint - 1  # every line up to the checkpoint (after the header), nothing more
    monkeypatch.setattr(columnar, "_validate_block", real)
    r = ingest_file(store, p, "events", pseudonymizer=pseudo, config=cfg)
    assert r.status == "resumed"
    assert store.count("events") == 3500 and store.count("quarantine") == 0


def test_fast_and_row_paths_agree(tmp_path, pseudo):
    """The columnar CSV path and the row path accept/reject the same rows with the same ids."""
    from shopsense.ingest.config import IngestConfig
    from shopsense.store import open_store

    text = ("user_id,item_id,type,value,query,timestamp,session_id\n"
            "u1,A,view,,,2024-01-01T10:00:00Z,s1\n"
            "u1,A,VIEW ,,,2024-01-01T10:00:00Z,s1\n"  # same event after normalisation: a duplicate
            "u2,,search,,red shoes,1700000000,\n"
            "u2,B,rating,4.5,,1700000001000,s2\n"
            "u2,B,rating,7,,1700000002,s2\n"
            "u3,B,cart,,,2024-01-01 10:00:00+02:00,\n"
            "u3,B,teleport,,,1700000003,\n"
            "u4,C,purchase,\"1,000\",,1700000004,\n"
            "u4,C,purchase,,,later,\n"
            "\n"
            "u5,C\n"
            ",C,view,,,1700000005,\n")
    results = []
    for name in ("ev.csv", "ev_rowpath.csv.gz"):
        import gzip

        p = tmp_path / name
        (gzip.open(p, "wt") if name.endswith(".gz") else open(p, "w")).write(text)  # .gz takes the row path
        s = open_store(f"sqlite:///{tmp_path / (name + '.db')}")
        ingest_file(s, p, "events", pseudonymizer=pseudo, config=IngestConfig(progress=False))
        ev = s.conn.execute("SELECT event_id, user_key, item_id, type, value, query, ts, session FROM events ORDER BY ts, event_id").fetchall()
        q = sorted((r.line, r.reason) for r in s.quarantine_rows(limit=100))
        results.append((ev, q))
    assert results[0] == results[1]
    assert len(results[0][0]) == 5
    assert [r for _, r in results[0][1]] == ["duplicate_id", "bad_value", "unknown_event_type", "bad_timestamp",
                                             "malformed_row", "missing_field"]


def test_crash_inside_the_transaction_rolls_back(tmp_path, store, pseudo, quiet_cfg, monkeypatch):
    p = tmp_path / "ev.csv"
    _big_events(p, 1500)
    real = type(store)._write_events

    def boom(self, *a, **k):
        real(self, *a, **k)
        raise RuntimeError("disk full")

    monkeypatch.setattr(type(store), "_write_events", boom)
    with pytest.raises(RuntimeError):
        ingest_file(store, p, "events", pseudonymizer=pseudo, config=quiet_cfg)
    assert store.count("events") == 0 and store.count("users") == 0
    monkeypatch.setattr(type(store), "_write_events", real)
    ingest_file(store, p, "events", pseudonymizer=pseudo, config=quiet_cfg)
    assert store.count("events") == 1500


def test_user_ids_are_pseudonymised(tmp_path, store, pseudo, quiet_cfg):
    p = tmp_path / "ev.csv"
    p.write_text("user_id,item_id,type,timestamp\nalice@example.com,A,view,1600000000\n"
                 "alice@example.com,A,teleport,1600000001\n")
    ingest_file(store, p, "events", pseudonymizer=pseudo, config=quiet_cfg)
    dump = "\n".join(store.conn.iterdump())
    assert "alice@example.com" not in dump  # neither in events, users nor quarantine
    key = pseudo.user("alice@example.com")
    assert len(key) == 32 and key in dump
    from shopsense.ingest.pseudonym import Pseudonymizer

    assert Pseudonymizer(b"another-key-0123456789").user("alice@example.com") != key
    assert pseudo.user("alice@example.com") == key  # stable under the same key


def test_given_event_ids_and_out_of_order_duplicates_across_chunks(tmp_path, store, pseudo):
    from shopsense.ingest.config import IngestConfig

    cfg = IngestConfig(progress=False, chunk_size=10, block_bytes=4096)  # several chunks on both paths
    # time goes backwards, and the last 100 rows repeat the first 100 exactly (chunks apart)
    rows = [f"u{k % 7},I{k % 5},view,{1_600_000_500 - k}" for k in range(300)]
    text = "user_id,item_id,type,timestamp\n" + "\n".join(rows + rows[:100]) + "\n"
    for name in ("ev.csv", "ev.jsonl"):
        s = open_store(f"sqlite:///{tmp_path / (name + '.db')}")
        p = tmp_path / name
        if name.endswith(".csv"):
            p.write_text(text)
        else:
            p.write_text("".join(json.dumps(dict(zip(["user_id", "item_id", "type", "timestamp"], r.split(",")))) + "\n"
                                 for r in rows + rows[:100]))
        r = ingest_file(s, p, "events", pseudonymizer=pseudo, config=cfg)
        assert r.accepted == 300 and r.rejected == {"duplicate_id": 100}, name
        first = 302 if name.endswith(".csv") else 301
        assert {q.line for q in s.quarantine_rows(limit=1000)} == set(range(first, first + 100))
    # ids the shop gives identify an event whatever time a re-send carries
    g = tmp_path / "given.csv"
    g.write_text("event_id,user_id,item_id,type,timestamp\n" + "".join(f"e{k},u1,I1,view,{1_500_000_000 + k}\n" for k in range(5)))
    assert ingest_file(store, g, "events", pseudonymizer=pseudo, config=cfg).accepted == 5
    g2 = tmp_path / "given_resent.csv"
    g2.write_text("event_id,user_id,item_id,type,timestamp\n" + "".join(f"e{k},u1,I1,view,{1_700_000_000 + k}\n" for k in range(6)))
    r2 = ingest_file(store, g2, "events", pseudonymizer=pseudo, config=cfg)
    assert r2.accepted == 1 and r2.rejected == {"duplicate_id": 5}
    assert store.count("events") == 6


def test_batch_pseudonyms_and_keys_equal_the_per_id_forms(pseudo):
    ids = ["a", "bé", "", "user-1" * 20, "🙂"]
    for _ in range(2):  # second round comes from the cache
        h, c = pseudo.user_parts_many(ids)
        assert list(zip(h, c.tolist())) == [pseudo.user_parts(x) for x in ids]
        h, c = pseudo.session_parts_many(ids)
        assert list(zip(h, c.tolist())) == [pseudo.session_parts(x) for x in ids]
    k = pseudo.keys
    assert k.texts(ids + [None]).tolist() == [k.text(x) for x in ids + [None]]


def test_worker_process_path_agrees_with_in_process_and_falls_back(tmp_path, pseudo, monkeypatch):
    """Big files are validated in a child process: same rows, ids, quarantine, and the same fallback
    to the row path when bytes that are not UTF-8 show up in a later block."""
    from shopsense.ingest import worker
    from shopsense.ingest.config import IngestConfig

    started = []
    real = worker.event_chunks_in_worker
    monkeypatch.setattr(worker, "event_chunks_in_worker", lambda *a, **k: started.append(1) or real(*a, **k))

    lines = [f"u{k % 13},I{k % 7},{'view' if k % 5 else 'teleport'},{1_600_000_000 + k},s{k // 10}" for k in range(400)]
    data = ("user_id,item_id,type,timestamp,session_id\n" + "\n".join(lines) + "\n").encode()
    p = tmp_path / "ev.csv"
    p.write_bytes(data + b"u\xff,I1,view,1600001000,s\n" + b"u1,I2,view,1600001001,s\n")
    results = []
    for worker in (None, 0):
        s = open_store(f"sqlite:///{tmp_path / f'w{worker}.db'}")
        cfg = IngestConfig(progress=False, block_bytes=4096, worker_min_bytes=worker)
        r = ingest_file(s, p, "events", pseudonymizer=pseudo, config=cfg)
        ev = s.conn.execute("SELECT event_id, user_key, item_id, type, ts, session FROM events ORDER BY ts, event_id").fetchall()
        results.append((r.accepted, r.rejected, ev, sorted((q.line, q.reason) for q in s.quarantine_rows(limit=1000))))
    assert started == [1]  # the second run used the worker
    assert results[0] == results[1]
    accepted, rejected, ev, quarantined = results[0]
    assert accepted == 321 and rejected == {"unknown_event_type": 80, "non_utf8": 1}
    assert (402, "non_utf8") in quarantined


def test_columnar_memo_computes_each_value_once_and_survives_its_reset(monkeypatch):
    """Users / items are looked up across blocks with pyarrow (ingest.columnar._Memo): each distinct
    value is computed once, answers keep their order, and the size cap only costs recomputation."""
    import numpy as np
    import pyarrow as pa

    from shopsense.ingest.columnar import _Memo

    calls: list[list[str]] = []

    def compute(values):
        calls.append(list(values))
        return [v.upper() for v in values], np.array([len(v) for v in values], np.uint64)

    memo = _Memo(compute)
    shown, comp = memo.lookup(pa.array(["b", "aa", "ccc"]))
    assert shown.tolist() == ["B", "AA", "CCC"] and comp.tolist() == [1, 2, 3]
    shown, comp = memo.lookup(pa.array(["ccc", "dddd", "b"]))  # the next block: only "dddd" is new
    assert shown.tolist() == ["CCC", "DDDD", "B"] and comp.tolist() == [3, 4, 1]
    assert calls == [["b", "aa", "ccc"], ["dddd"]]
    monkeypatch.setattr(_Memo, "LIMIT", 5)
    shown, comp = memo.lookup(pa.array(["aa", "eeeee"]))  # over the cap: start over, same answers
    assert shown.tolist() == ["AA", "EEEEE"] and comp.tolist() == [2, 5]
    assert calls[-1] == ["aa", "eeeee"]


def test_packed_blocks_round_trip_to_the_same_columns():
    """Blocks cross the pipe to the writer with text columns joined into one string (pack_block);
    the writer must get exactly the columns the unpacked block gives, None and odd values included."""
    import numpy as np

    from shopsense.ingest.columnar import SEP, block_rows, pack_block

    n = 12
    block = {"line": np.arange(2, 2 + n), "event_id": np.arange(n) * 2, "type": np.zeros(n, np.int64),
             "value": np.array([np.nan, 1.5] * 6), "ts": np.arange(n, dtype=float),
             "user": ([f"u{k}" for k in range(n)], np.arange(n)),                    # many distinct: packed
             "item": ([None, "i1", "", "é✓"] + [f"i{k}" for k in range(4, n)], np.arange(n)[::-1]),
             "query": ([None, "red shoes"], np.array([0] * 10 + [1, 1])),            # few distinct: codes kept
             "session": ([f"s{k}" for k in range(n - 1)] + [f"bad{SEP}id"], np.arange(n))}  # holds SEP: kept
    packed = pack_block(block)
    assert packed["user"][0] == "joined" and packed["item"][0] == "joined"
    assert packed["query"] is block["query"] and packed["session"] is block["session"]
    assert block_rows(packed).rows() == block_rows(block).rows()
    assert block_rows(packed).item_id[-1] is None and block_rows(packed).value[0] is None
