"""Never-seen items in the sequential model: null ID vector, content channel, new-item calibration, and the
recommender answering for them (synthetic data where the answer is known)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shopsense.recommend.config import SequentialConfig  # noqa: E402
from shopsense.recommend.features import content_vectors  # noqa: E402
from shopsense.recommend.persist import load_recommender  # noqa: E402
from shopsense.recommend.personal import SequentialRecommender  # noqa: E402
from shopsense.recommend.sasrec_net import ItemFeatures, SASRecNet, TrainConfig, train_net  # noqa: E402
from shopsense.recommend.sequential import fit_unseen_bias, mark_unseen_items, net_scores  # noqa: E402
from shopsense.testing.synthetic import checkerboard  # noqa: E402


def _net(n=6, content=True, cold_id="learned", window=2):
    rng = np.random.default_rng(0)
    text = rng.normal(size=(n, 8)).astype(np.float32)
    feats = ItemFeatures(text=text, content=content_vectors(text) if content else None)
    torch.manual_seed(0)
    return SASRecNet(n, dim=8, max_len=5, n_layers=1, dropout=0.0, features=feats, cold_id=cold_id,
                     content_window=window)


def test_unseen_items_get_the_null_id_plus_their_text():
    net = _net()
    with torch.no_grad():
        net.id_null.fill_(0.5)
    mark_unseen_items(net, [np.array([0, 1, 2, 3])])  # items 4 and 5 never seen
    net.eval()
    table, side = net.item_table(), net.side_part()
    torch.testing.assert_close(table[4], side[4] + net.id_null)
    torch.testing.assert_close(table[0], side[0] + net.id_emb.weight[0])
    torch.testing.assert_close(net.text_table(), side + net.id_null)
    assert _net(cold_id="zero").id_null is None


def test_content_query_is_the_causal_window_mean():
    net = _net(window=2)
    seq = torch.tensor([[0, 1, 2, -1]])
    q = net.content_query(seq)[0]
    c = net.content
    for t, items in enumerate([[0], [0, 1], [1, 2]]):
        want = c[items].sum(0)
        torch.testing.assert_close(q[t], want / want.norm())


def test_content_vectors_are_unit_norm_and_keep_cosines_after_svd():
    rng = np.random.default_rng(1)
    text = rng.normal(size=(40, 30))
    full = content_vectors(text, max_dim=64)
    small = content_vectors(text, max_dim=30)  # full rank: SVD rotation keeps cosines exactly
    np.testing.assert_allclose(np.linalg.norm(full, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(full @ full.T, small @ small.T, atol=1e-4)
    flat, off = np.array([0, 1, 1, 2, 3, 4, 5]), np.array([0, 2, 3, 4, 5, 6])  # bags {0,1}, {1}, {2}, ...
    attr = content_vectors(attr_index=flat, attr_offsets=off, n_attrs=6)
    assert attr[0] @ attr[1] > 0 and abs(attr[0] @ attr[2]) < 1e-6


def test_fit_unseen_bias_boosts_only_unseen_items_and_never_costs_more_than_the_tolerance():
    net = _net()
    seen = mark_unseen_items(net, [np.array([0, 1, 2, 3])])
    net.eval()
    hist = [np.array([0, 1]), np.array([2]), np.array([1, 3]), np.array([0])] * 10
    targets = np.array([4, 5, 4, 0] * 10)  # mostly never-seen targets: a boost must help
    base = net_scores(net, hist)
    out = fit_unseen_bias(net, hist, targets, tolerance=0.0, min_targets=5)
    assert out["n_unseen_targets"] == 30 and out["bias"] > 0
    best = max(out["ndcg10_by_bias"].values())
    assert out["ndcg10_by_bias"][f"{out['bias']:g}"] == best
    shifted = net_scores(net, hist)
    np.testing.assert_allclose(shifted[:, seen], base[:, seen], atol=1e-5)
    np.testing.assert_allclose(shifted[:, ~seen], base[:, ~seen] + out["bias"], atol=1e-5)
    # too few unseen targets: no boost
    assert fit_unseen_bias(net, hist[:2], np.array([4, 0]), min_targets=5)["bias"] == 0.0
    assert float(net.unseen_bias) == 0.0


def test_text_loss_and_content_channel_train():
    net = _net()
    seqs = [np.array([0, 1, 2, 3]), np.array([1, 2, 3, 0]), np.array([2, 3, 0, 1])] * 4
    res = train_net(net, seqs, TrainConfig(epochs=15, batch_size=4, lr=1e-2, text_loss=1.0, id_dropout=0.3),
                    progress=False)
    assert res.history[-1]["loss"] < res.history[0]["loss"]
    assert net.content_gain.grad is not None


SMALL = dict(dim=16, max_len=10, n_layers=1, dropout=0.1, epochs=80, batch_size=16, lr=1e-2, holdout_last=False)


@pytest.fixture(scope="module")
def cold_model():
    ds, withheld = checkerboard(n_groups=4, users_per_group=10, cold_items_per_group=1)
    cfg = SequentialConfig(text_features="attributes", id_dropout=0.3, cold_id="learned", content_channel=True,
                           text_loss=0.5, **SMALL)
    return ds, withheld, SequentialRecommender(cfg, progress=False).fit(ds)


def test_never_seen_items_rank_by_text_and_are_marked(cold_model, own_cold_item_wins):
    ds, withheld, rec = cold_model
    cold = [f"g{g}new0" for g in range(4)]

    def marked(out):
        assert all("new_item" in r[0] for r in out.reasons)

    assert own_cold_item_wins(rec, ds, withheld, cold, check=marked) >= 0.9
    out = rec.recommend(next(iter(withheld)), n=ds.n_items)
    for iid, r in zip(out.ids, out.reasons):
        assert ("new_item" in r[0]) == ("new" in iid)


def test_a_session_of_only_never_seen_items_gets_an_answer_from_their_text(cold_model):
    ds, _, rec = cold_model
    for g in range(4):
        out = rec.recommend([f"g{g}new0"], n=4)
        assert len(out.ids) == 4 and sum(i.startswith(f"g{g}") for i in out.ids) >= 3


def test_save_load_keeps_the_cold_start_state(cold_model, tmp_path):
    ds, withheld, rec = cold_model
    with torch.no_grad():
        rec.net.unseen_bias.fill_(0.75)
    rec.save(tmp_path / "m")
    assert (tmp_path / "m" / "content.npy").exists()
    back = load_recommender(tmp_path / "m")
    assert float(back.net.unseen_bias) == 0.75
    for q in [next(iter(withheld)), ["g2new0", "g2i1"], None, "nobody"]:
        a, b = rec.recommend(q, n=5), back.recommend(q, n=5)
        assert a.ids == b.ids
        np.testing.assert_allclose(a.scores, b.scores, rtol=1e-5, atol=1e-6)


def test_a_folder_saved_before_the_null_id_existed_still_loads(cold_model, tmp_path):
    ds, withheld, rec = cold_model
    rec.save(tmp_path / "old")
    state = torch.load(tmp_path / "old" / "net.pt", weights_only=True)
    del state["id_null"], state["unseen_bias"]
    torch.save(state, tmp_path / "old" / "net.pt")
    back = load_recommender(tmp_path / "old")
    assert float(back.net.id_null.detach().abs().sum()) == 0.0 and float(back.net.unseen_bias) == 0.0
    assert back.recommend(next(iter(withheld)), n=3).ids


def test_calibration_runs_in_fit_and_is_saved(tmp_path):
    # every user's last item is a brand-new item of their group: validation targets unseen in training
    ds, _ = checkerboard(n_groups=4, users_per_group=10, cold_items_per_group=1)
    from shopsense.types import Dataset, Event

    events = [Event(user_id=ds.user_vocab.ids[u], item_id=ds.item_vocab.ids[i], type="view", timestamp=float(t))
              for u, i, t in zip(ds.events.user, ds.events.item, ds.events.timestamp)]
    last = max(e.timestamp for e in events)
    for k, uid in enumerate(ds.user_vocab.ids):
        events.append(Event(user_id=uid, item_id=f"g{uid[1]}new0", type="view", timestamp=last + 1 + k))
    ds2 = Dataset.from_records(ds.items, events)
    cfg = SequentialConfig(text_features="attributes", id_dropout=0.3, cold_id="learned", content_channel=True,
                           calibrate_unseen=True, **{**SMALL, "holdout_last": True, "epochs": 30, "patience": 30})
    rec = SequentialRecommender(cfg, progress=False).fit(ds2)
    assert rec.calibration["n_unseen_targets"] == 40
    rec.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert meta["extra"]["calibration"]["bias"] == rec.calibration["bias"]
