"""`shopsense quality` against a real SQLite store: flags, fills, audit, report; nothing deleted;
merge is explicit, audited and reversible."""
from __future__ import annotations

import json

import pytest

from shopsense.cli import main
from shopsense.store import open_store
from shopsense.types import Event, Item


@pytest.fixture()
def shop(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPSENSE_TEXT__ENCODER", "hashing")
    monkeypatch.delenv("SHOPSENSE_CONFIG", raising=False)
    store = open_store(f"sqlite:///{tmp_path / 'shop.db'}")
    items = [Item(item_id=f"p{i}", title=f"acrylic paint colour {i} brush", category=["Art"], brand="Liquitex",
                  price=10.0 + i % 3) for i in range(12)]
    items += [Item(item_id="gold", title="acrylic paint colour gold brush", category=["Art"], brand="Liquitex",
                   price=900.0),
              Item(item_id="nobrand", title="acrylic paint colour 3 brush set", category=["Art"], price=11.0),
              Item(item_id="dupA", title="Garden Hose 50 ft Heavy Duty", category=["Garden"], brand="Flexzilla"),
              Item(item_id="dupB", title="garden hose 50 ft heavy-duty", category=["Garden"], brand="FLEXZILLA")]
    store.upsert_items(items)
    t0 = 1_700_000_000.0
    ev = [Event(user_id=f"u{u}", item_id=f"p{(u + k) % 12}", type="view", timestamp=t0 + u * 5000 + k * 600)
          for u in range(15) for k in range(6)]
    ev += [Event(user_id="bot", item_id="gold", type="click", timestamp=t0 + k * 0.5) for k in range(80)]
    store.add_events(ev)
    return tmp_path, store


def _run(tmp, *args):
    return main(["--data-dir", str(tmp), *args])


def test_quality_flags_fills_reports_and_deletes_nothing(shop, capsys):
    tmp, store = shop
    before = {t: store.count(t) for t in ("items", "events")}
    n_ds = len(store.load_dataset().events)
    assert _run(tmp, "quality") == 0
    assert {t: store.count(t) for t in ("items", "events")} == before
    ds = store.load_dataset()
    assert len(ds.events) == n_ds - 80  # the bot's clicks are excluded from training ...
    assert len(store.load_dataset(include_flagged=True).events) == n_ds  # ... and kept
    fills = {(f["item_id"], f["field"]): f for f in store.fills()}
    assert fills[("nobrand", "brand")]["value"] == "Liquitex"
    assert store.get_item("nobrand").brand == ""  # the shop's value is not overwritten
    actions = [a["action"] for a in store.audit_log()]
    assert {"quality.bots", "quality.fills", "quality.outliers", "quality.duplicates"} <= set(actions)
    outl = next(a for a in store.audit_log() if a["action"] == "quality.outliers")["detail"]["outliers"]
    assert [o["item_id"] for o in outl] == ["gold"]
    html = (tmp / "reports" / "quality.html").read_text()
    assert "<svg" in html and "Duplicate clusters" in html and "bot" in html
    dups = json.loads((tmp / "reports" / "duplicates.json").read_text())["clusters"]
    assert [sorted(c["member_ids"]) for c in dups] == [["dupA", "dupB"]]
    # re-running replaces this detector's flags instead of piling them up
    assert _run(tmp, "quality", "--steps", "bots") == 0
    assert len(store.load_dataset().events) == n_ds - 80


def test_merge_is_explicit_audited_and_reversible(shop, capsys):
    tmp, store = shop
    assert _run(tmp, "quality", "merge", "--all") == 1  # no proposals yet: a clear error
    assert "run `shopsense quality` first" in capsys.readouterr().err
    assert _run(tmp, "quality", "--steps", "duplicates", "--no-encoder") == 0
    n_items = store.count("items")
    assert _run(tmp, "quality", "merge", "--all") == 0
    assert store.count("items") == n_items  # rows stay
    ids = {it.item_id for it in store.iter_items()}
    assert len({"dupA", "dupB"} & ids) == 1
    merge = next(a for a in store.audit_log() if a["action"] == "merge_items")
    assert _run(tmp, "quality", "unmerge", str(merge["detail"]["merge_id"])) == 0
    assert {"dupA", "dupB"} <= {it.item_id for it in store.iter_items()}
    assert _run(tmp, "quality", "audit") == 0
    out = capsys.readouterr().out
    assert "unmerge" in out and "merge_items" in out


def test_augment_records_separate_fields(shop):
    tmp, store = shop
    before = store.get_item("nobrand")
    assert _run(tmp, "quality", "augment") == 0
    fills = {(f["item_id"], f["field"]): f for f in store.fills()}
    assert ("dupA", "synthetic_queries") in fills and "hose" in fills[("dupA", "synthetic_queries")]["value"]
    assert store.get_item("nobrand") == before  # the shop's own fields are untouched
    assert any(a["action"] == "quality.augment" for a in store.audit_log())
