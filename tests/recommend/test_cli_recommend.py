"""`shopsense train` then `shopsense recommend` on a tiny ingested shop."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pytest

from shopsense.cli import main
from shopsense.testing.synthetic import checkerboard


@pytest.fixture()
def shop(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOPSENSE_TEXT__ENCODER", "hashing")
    monkeypatch.setenv("SHOPSENSE_RECOMMEND__SEQUENTIAL__DIM", "16")
    ds, withheld = checkerboard()
    with open(tmp_path / "items.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["item_id", "title", "category", "brand"])
        for it in ds.items:
            w.writerow([it.item_id, it.title, it.category[0], it.brand])
    ev = ds.events
    with open(tmp_path / "events.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user_id", "item_id", "type", "timestamp"])
        for u, i, t, ts in zip(ev.user, ev.item, ev.type, ev.timestamp):
            when = dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            w.writerow([ds.user_vocab.ids[u], ds.item_vocab.ids[i], ["view", "click", "cart", "purchase"][t], when])
    data = tmp_path / "var"
    assert main(["--data-dir", str(data), "ingest", "--items", str(tmp_path / "items.csv"),
                 "--events", str(tmp_path / "events.csv")]) == 0
    return data, withheld


@pytest.mark.parametrize("personal", ["cf", "sequential"])
def test_train_then_recommend(shop, personal, capsys):
    data, withheld = shop
    assert main(["--data-dir", str(data), "train", "--personal", personal, "--epochs", "3"]) == 0
    assert (data / "models" / "recommend" / "model.json").exists()
    capsys.readouterr()
    user = next(iter(withheld))
    assert main(["--data-dir", str(data), "recommend", user, "-n", "4", "--json"]) == 0
    recs = json.loads(capsys.readouterr().out)
    assert len(recs) == 4 and recs[0]["reasons"][0]["route"] == "personal"
    assert main(["--data-dir", str(data), "recommend", "someone-new", "-n", "3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["reasons"][0]["route"] == "trending"
    assert main(["--data-dir", str(data), "recommend", "--similar", "g1i0", "-n", "3"]) == 0
    assert "g1i" in capsys.readouterr().out


def test_recommend_without_a_model_is_a_clear_error(tmp_path, capsys):
    assert main(["--data-dir", str(tmp_path), "recommend", "u1"]) == 1
    assert "shopsense train" in capsys.readouterr().err
