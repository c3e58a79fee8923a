"""Personalised search with the learned ranker: logged search sessions become query groups, and the
model re-ranks search results with the shopper's profile. Synthetic data where the answer is known:
every product exists twice with the same title, once in Kitchen and once in Garden; Kitchen shoppers
take the Kitchen copy, Garden shoppers the Garden copy. Search relevance alone cannot tell them apart;
the profile can."""

from __future__ import annotations

import numpy as np
import pytest

from shopsense.types import EVENT_CODES, Dataset, Event, Item

WORDS = ["mug", "lamp", "bottle", "basket", "clock", "stool", "tray", "jar", "hook", "mat", "rack", "bowl"]
CATS = ["Kitchen", "Garden"]


def _dataset(n_users: int = 160, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    items = [Item(item_id=f"{c[0]}-{w}", title=f"classic {w}", category=[c], brand=f"{c} co") for c in CATS for w in WORDS]
    items += [Item(item_id=f"{c[0]}-extra{k}", title=f"{c.lower()} accessory {k}", category=[c], brand=f"{c} co")
              for c in CATS for k in range(10)]
    events, t = [], 1.6e9
    for u in range(n_users):
        cat = CATS[u % 2]
        for k in rng.choice(10, size=4, replace=False):  # a history in the shopper's category
            t += 60
            events.append(Event(user_id=f"u{u}", item_id=f"{cat[0]}-extra{k}", type="purchase", timestamp=t))
        for w in rng.choice(WORDS, size=4, replace=False):  # searches, each followed by the own-category copy
            t += 60
            events.append(Event(user_id=f"u{u}", type="search", query=f"classic {w}", timestamp=t))
            t += 20
            events.append(Event(user_id=f"u{u}", item_id=f"{cat[0]}-{w}", type="click", timestamp=t))
    return Dataset.from_records(items, events)


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    from shopsense.settings import load_settings

    return load_settings(data_dir=str(tmp_path_factory.mktemp("st")), text={"encoder": "hashing"},
                         rank={"ranker": "lgbm", "category_cap": None,
                               "lgbm": {"min_queries": 20, "n_estimators": 60, "min_child_samples": 5}},
                         recommend={"cf": {"iterations": 5, "factors": 8}})


def test_search_sessions_take_the_profile_before_the_search():
    from shopsense.rank.search_train import search_sessions

    ds = _dataset(4)
    sessions = search_sessions(ds, {"purchase": 4.0, "click": 2.0, "search": 0.0}, 50, lambda i: None)
    assert len(sessions) == 16  # 4 shoppers x 4 searches, each followed by a click
    user, query, taken, prof = sessions[0]
    assert query.startswith("classic ") and taken.endswith(query.split()[-1])
    assert taken not in prof.recent_items(50)  # the click comes after the snapshot
    later = [s for s in sessions if s[0] == user][-1][3]
    assert len(later.recent_items(50)) > len(prof.recent_items(50))  # earlier clicks are in later snapshots


def test_learned_ranker_personalises_search_better_than_relevance_alone(settings):
    from shopsense.rank.build import build_engine
    from shopsense.rank.profile import ProfileBook

    ds = _dataset()
    eng = build_engine(settings, ds)
    rep = eng.info["ranker"]
    assert rep["search_train_queries"] >= 20 and rep["search_eval_queries"] > 0, rep
    assert rep["search_eval_recall"] == 1.0  # both copies are always among the search candidates
    # relevance cannot separate the two copies; the learned ranker, trained on sessions, can
    # (ties between the copies put the right one first for about half the shoppers: NDCG ~0.8)
    assert rep["search_ndcg10_lgbm"] > rep["search_ndcg10_engine"] + 0.15, rep
    assert rep["search_ndcg10_lgbm"] >= rep["search_ndcg10_rules"], rep
    assert eng.search_ranker is eng.learned

    book = ProfileBook(settings.rank.event_weights, settings.rank.profile_recent)
    book.load_dataset(ds, eng.items.get)
    for u, cat in (("u0", "Kitchen"), ("u1", "Garden")):
        res = eng.search("classic tray", book.get(u), n=2)["results"]
        assert res[0]["category"] == cat and res[0]["breakdown"]["ranker"] == "lgbm (search sessions)"


def test_without_search_logs_search_keeps_the_rule_blend(settings):
    from shopsense.rank.build import build_engine
    from shopsense.rank.profile import ProfileBook

    ds = _dataset(120)
    keep = ds.events.type != EVENT_CODES["search"]  # the same shoppers, without their search logs
    ds = Dataset(ds.items, ds.events.subset(keep), ds.item_vocab, ds.user_vocab, ds.session_vocab, "no-search")
    eng = build_engine(settings, ds)
    assert eng.search_ranker is None and eng.info["ranker"].get("search_train_queries", 0) == 0
    book = ProfileBook(settings.rank.event_weights, settings.rank.profile_recent)
    book.load_dataset(ds, eng.items.get)
    res = eng.search("classic tray", book.get("u0"), n=2)["results"]
    assert res[0]["breakdown"]["ranker"] == "search+profile"
