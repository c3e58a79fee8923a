from __future__ import annotations

import numpy as np
import pytest

from shopsense.types import Dataset, Event, Item, ItemList, Vocabulary


def test_itemlist_from_scores_sorts_and_keeps_reasons():
    il = ItemList.from_scores(["a", "b", "c"], [0.1, 0.9, 0.5], reason={"source": "x"}, n=2)
    assert il.ids == ["b", "c"] and il.reasons[0] == [{"source": "x", "rank": 1}]
    assert il.without(["b"]).ids == ["c"]
    with pytest.raises(ValueError):
        ItemList(["a"], np.zeros(2), [[]])


def test_vocabulary_roundtrip():
    v = Vocabulary(["x", "y", "x"])
    assert len(v) == 2 and v["y"] == 1 and v.get("z") == -1
    assert Vocabulary.from_json(v.to_json()).ids == ["x", "y"]
    assert v.lookup(["y", "nope"]).tolist() == [1, -1]


def test_dataset_from_records_and_sequences():
    items = [Item(item_id=i, title=i) for i in "abc"]
    ev = [Event(user_id="u1", item_id="b", type="view", timestamp=2), Event(user_id="u1", item_id="a", type="purchase", timestamp=1),
          Event(user_id="u2", item_id="c", type="view", timestamp=3), Event(user_id="u2", type="search", query="q", timestamp=4)]
    ds = Dataset.from_records(items, ev)
    seqs = ds.user_sequences()
    assert [s.tolist() for s in seqs] == [[0, 1], [2]]
    assert [s.tolist() for s in ds.user_sequences(types=["purchase"])] == [[0], []]
    with pytest.raises(ValueError, match="unknown item"):
        Dataset.from_records(items, [Event(user_id="u", item_id="zz", type="view", timestamp=1)])
