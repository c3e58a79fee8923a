from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shopsense.errors import DataError, NotFittedError
from shopsense.search.engine import SearchEngine
from shopsense.search.rerank import FEATURES, Reranker, features, training_rows
from shopsense.text.encoder import HashingEncoder
from shopsense.types import Item

pytest.importorskip("lightgbm")

NOUNS = ["drill", "hammer", "hose", "bulb", "saw", "ladder", "paint", "brush", "glove", "rake"]
ADJ = ["red", "blue", "cordless", "steel", "garden", "led", "heavy", "small", "large", "outdoor"]


@pytest.fixture(scope="module")
def engine():
    rng = np.random.default_rng(0)
    items = [Item(item_id=f"p{i}", title=f"{ADJ[rng.integers(10)]} {NOUNS[rng.integers(10)]} "
                                        f"{ADJ[rng.integers(10)]} model {i}") for i in range(300)]
    return SearchEngine.build(items, encoder=HashingEncoder())


def synthetic_judgments(engine, n=60, seed=1):
    """Query 'adj noun': a product is relevant when its noun (2nd word) is the query noun, more so (3)
    when it also has the adjective; adjective-only matches are not relevant."""
    rng = np.random.default_rng(seed)
    queries, qrels = {}, {}
    for k in range(n):
        a, nn = ADJ[rng.integers(10)], NOUNS[rng.integers(10)]
        queries[f"q{k}"] = f"{a} {nn}"
        rel = {}
        for iid, t in zip(engine.ids.ids, engine.lex_texts):
            w = t.split()
            if w[1] == nn:
                rel[iid] = 3.0 if a in w else 2.0
        qrels[f"q{k}"] = rel
    return queries, qrels


def test_reranker_fits_saves_and_loads(engine, tmp_path):
    queries, qrels = synthetic_judgments(engine, n=30)
    X, y, g = training_rows(engine, queries, qrels, depth=30)
    assert X.shape[1] == len(FEATURES) and len(X) == sum(g) and y.max() > 0
    r = Reranker().fit(X, y, g, n_estimators=20)
    r.save(tmp_path / "rr")
    r2 = Reranker.load(tmp_path / "rr")
    np.testing.assert_allclose(r.predict(X[:20]), r2.predict(X[:20]))
    engine.reranker = r
    res = engine.search("steel hose", k=5)
    assert any(x["source"] == "reranker" for x in res.items.reasons[0])
    parsed = engine.parse("steel hose")
    cand = engine.candidates(parsed)
    assert features(engine, cand, np.arange(min(5, len(cand.rows)))).shape == (min(5, len(cand.rows)), len(FEATURES))
    engine.reranker = None


def test_unfitted_reranker_is_a_clear_error():
    with pytest.raises(NotFittedError):
        Reranker().predict(np.zeros((1, len(FEATURES))))


def test_v2_features_read_the_query_and_title(engine):
    parsed = engine.parse("steel hose")
    cand = engine.candidates(parsed)
    order = np.argsort(-cand.score, kind="stable")[:20]
    X = features(engine, cand, order, "steel hose")
    col = {n: X[:, i] for i, n in enumerate(FEATURES)}
    titles = [engine.lex_texts[int(cand.rows[i])] for i in order]
    both = np.array(["steel" in t and "hose" in t for t in titles])
    assert both.any()
    # full coverage <=> every query token present; IDF-weighted coverage is 1 exactly there
    np.testing.assert_array_equal(col["idf_cov"] > 0.999, both)
    assert (col["n_missing"][both] == 0).all() and (col["fz_token_set"][both] == 100).all()
    np.testing.assert_array_equal(col["position"], np.arange(len(order)))
    assert sorted(col["cos_rank"].tolist()) == list(range(len(order)))
    from rapidfuzz import fuzz

    np.testing.assert_allclose(col["fz_partial"], [fuzz.partial_ratio("steel hose", t.lower()) for t in titles],
                               rtol=1e-5)
    # without the raw query, the surface/fuzzy features are neutral rather than failing
    X0 = features(engine, cand, order)
    assert (X0[:, FEATURES.index("raw_cov")] == 0).all()


def test_model_on_a_feature_subset_still_loads_and_scores(engine, tmp_path):
    """A model saved with the 16 v1 features (as engines saved before v2 hold) reads its own columns."""
    queries, qrels = synthetic_judgments(engine, n=20)
    X, y, g = training_rows(engine, queries, qrels, depth=30)
    r = Reranker(features=FEATURES[:16]).fit(X, y, g, n_estimators=10)
    r.save(tmp_path / "v1")
    r2 = Reranker.load(tmp_path / "v1")
    assert r2.features == FEATURES[:16]
    np.testing.assert_allclose(r.predict(X[:10]), r2.predict(X[:10]))
    with pytest.raises(DataError):
        r2.predict(X[:, :16])  # callers always pass the full matrix
    with pytest.raises(DataError):
        Reranker(features=["bm25", "no_such_feature"])


@pytest.fixture(scope="module")
def heldout_task(engine):
    """Training rows of 40 synthetic queries, 20 other queries to score on, and their NDCG@10 without a re-ranker."""
    queries, qrels = synthetic_judgments(engine, n=40)
    X, y, g = training_rows(engine, queries, qrels, depth=30)
    hq, hr = synthetic_judgments(engine, n=20, seed=7)
    return X, y, g, hq, hr, heldout_ndcg(engine, None, hq, hr)


@pytest.fixture(scope="module")
def plain_reranker(heldout_task):
    """The unregularised model the regularised variants are compared with (60 trees, leaves of 5+ rows)."""
    X, y, g, *_ = heldout_task
    return Reranker().fit(X, y, g, n_estimators=60, min_data_in_leaf=5)


def heldout_ndcg(engine, reranker, hq, hr):
    """NDCG@10 of the held-out queries with `reranker` installed (None: without re-ranking)."""
    from shopsense.evaluate.search_eval import evaluate_rankings

    engine.reranker = reranker
    try:
        return evaluate_rankings({q: engine.search(t, k=30).items.ids for q, t in hq.items()}, hr).ndcg
    finally:
        engine.reranker = None


def test_xendcg_objective_learns_the_judgments_and_unknown_objectives_are_refused(engine, heldout_task):
    """Both LightGBM ranking objectives the benchmark compares must learn the synthetic rule: on
    held-out queries, products of the query's noun rank above the rest."""
    X, y, g, hq, hr, base = heldout_task
    with pytest.raises(DataError, match="objective"):
        Reranker().fit(X, y, g, objective="pointwise")
    for obj in ("lambdarank", "rank_xendcg"):
        r = Reranker().fit(X, y, g, n_estimators=60, objective=obj, min_data_in_leaf=5)
        assert r.params["objective"] == obj
        nd = heldout_ndcg(engine, r, hq, hr)
        assert nd > base + 0.05, (obj, base, nd)


def test_regularised_reranker_learns_the_judgments_records_its_settings_and_reloads(engine, heldout_task,
                                                                                     plain_reranker, tmp_path):
    """lambda_l2 and extra_trees (the regularised grid settings of the benchmark) must still learn the
    synthetic rule, change the model, travel with the saved folder, and refuse a negative penalty."""
    X, y, g, hq, hr, base = heldout_task
    plain = plain_reranker
    reg = Reranker().fit(X, y, g, n_estimators=60, min_data_in_leaf=5, lambda_l2=10.0, extra_trees=True)
    assert reg.params["lambda_l2"] == 10.0 and reg.params["extra_trees"] is True
    assert "lambda_l2" not in plain.params and "extra_trees" not in plain.params  # old settings unchanged
    assert not np.allclose(reg.predict(X), plain.predict(X))
    nd = heldout_ndcg(engine, reg, hq, hr)
    assert nd > base + 0.05, (base, nd)
    reg.save(tmp_path / "reg")
    loaded = Reranker.load(tmp_path / "reg")
    assert loaded.params["lambda_l2"] == 10.0
    np.testing.assert_allclose(loaded.predict(X), reg.predict(X))
    with pytest.raises(DataError, match="lambda_l2"):
        Reranker().fit(X, y, g, lambda_l2=-1.0)


def test_row_and_column_sampling_learn_the_judgments_record_their_settings_and_refuse_bad_fractions(
        engine, heldout_task, plain_reranker, tmp_path):
    """feature_fraction and bagging_fraction (the benchmark's most regularised grid setting) must still learn the
    synthetic rule, change the model, travel with the saved folder, and refuse fractions outside (0, 1]."""
    X, y, g, hq, hr, base = heldout_task
    plain = plain_reranker
    assert plain.params["feature_fraction"] == 0.9 and "bagging_fraction" not in plain.params  # defaults unchanged
    sub = Reranker().fit(X, y, g, n_estimators=60, min_data_in_leaf=5, feature_fraction=0.5, bagging_fraction=0.7)
    assert sub.params["feature_fraction"] == 0.5
    assert sub.params["bagging_fraction"] == 0.7 and sub.params["bagging_freq"] == 1  # LightGBM bags only with a freq
    assert not np.allclose(sub.predict(X), plain.predict(X))
    nd = heldout_ndcg(engine, sub, hq, hr)
    assert nd > base + 0.05, (base, nd)
    sub.save(tmp_path / "sub")
    loaded = Reranker.load(tmp_path / "sub")
    np.testing.assert_allclose(loaded.predict(X), sub.predict(X))
    for bad in ({"feature_fraction": 0.0}, {"bagging_fraction": 1.5}):
        with pytest.raises(DataError, match=next(iter(bad))):
            Reranker().fit(X, y, g, **bad)


def test_monotone_reranker_never_scores_a_better_match_lower_and_reloads(engine, heldout_task, plain_reranker,
                                                                        tmp_path):
    """With monotone=True, raising any MONOTONE feature of a row (every other feature fixed) must never lower its
    score (never raise it for the -1 ones); the model still learns the synthetic rule and keeps its constraints
    when saved. The unconstrained model is checked the same way, so the test shows the constraint is what holds."""
    from shopsense.search.rerank import MONOTONE

    X, y, g, hq, hr, base = heldout_task
    mono = Reranker().fit(X, y, g, n_estimators=60, min_data_in_leaf=5, monotone=True)
    assert mono.params["monotone_constraints"] == [MONOTONE.get(f, 0) for f in FEATURES]
    assert "monotone_constraints" not in plain_reranker.params
    assert heldout_ndcg(engine, mono, hq, hr) > base + 0.05

    rows = X[np.random.default_rng(0).choice(len(X), 200, replace=False)]

    checked = [f for f in MONOTONE if not np.isnan(X[:, FEATURES.index(f)]).all()]  # soft match: no token vectors
    assert len(checked) >= 10

    def worst_violation(model):
        worst = 0.0
        for f in checked:
            c, sign = FEATURES.index(f), MONOTONE[f]
            lo, hi = np.nanmin(X[:, c]), np.nanmax(X[:, c])
            grid = np.linspace(lo, hi, 12)
            scores = []
            for v in grid:
                Z = rows.copy()
                Z[:, c] = v
                scores.append(model.predict(Z))
            steps = sign * np.diff(np.stack(scores), axis=0)  # >= 0 everywhere when monotone
            worst = min(worst, float(steps.min()))
        return worst

    assert worst_violation(mono) >= -1e-9
    assert worst_violation(plain_reranker) < -1e-6  # without the constraint the trees do dip somewhere
    mono.save(tmp_path / "mono")
    loaded = Reranker.load(tmp_path / "mono")
    assert loaded.params["monotone_constraints"] == mono.params["monotone_constraints"]
    np.testing.assert_allclose(loaded.predict(X), mono.predict(X))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text("abcd", min_size=1, max_size=6), max_size=6),
       st.lists(st.text("abcd", min_size=1, max_size=6), max_size=10))
def test_prefix_feature_counts_what_its_definition_says(missing, doc):
    """The prefix feature answers from per-title prefix sets; the definition is a scan: a token t
    (3+ chars) hits a title token x (3+ chars) when x starts with t[:4] or t starts with x[:4]."""
    from shopsense.search.rerank import _prefix_hits

    def scan(t):
        return len(t) >= 3 and any(len(x) >= 3 and (x.startswith(t[:4]) or t.startswith(x[:4])) for x in doc)

    assert _prefix_hits(missing, doc) == sum(scan(t) for t in missing)


def test_bagged_reranker_averages_its_seeds_and_single_model_files_still_load(engine, tmp_path):
    import json

    queries, qrels = synthetic_judgments(engine, n=30)
    X, y, g = training_rows(engine, queries, qrels, depth=30)
    singles = [Reranker().fit(X, y, g, n_estimators=20, seed=4 + k) for k in range(3)]
    assert not np.allclose(singles[0].predict(X), singles[1].predict(X))  # the seeds do make different models
    bag = Reranker().fit(X, y, g, n_estimators=20, bags=3, seed=4)
    np.testing.assert_allclose(bag.predict(X), np.mean([s.predict(X) for s in singles], 0), rtol=1e-9, atol=1e-9)
    bag.save(tmp_path / "bag")
    np.testing.assert_allclose(Reranker.load(tmp_path / "bag").predict(X), bag.predict(X))
    # a folder saved before bagging holds one "model" string
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "reranker.json").write_text(json.dumps(
        {"features": FEATURES, "params": singles[0].params, "model": singles[0].models[0]}))
    np.testing.assert_allclose(Reranker.load(tmp_path / "old").predict(X), singles[0].predict(X))
    with pytest.raises(DataError, match="bags"):
        Reranker().fit(X, y, g, bags=0)


def test_surface_words_follow_changes_and_reload(tmp_path):
    """raw_cov (share of the shopper's words in the title) reads per-row surface words kept by the
    engine; they must follow upserts, removals and a save/load round trip."""
    from shopsense.text.normalize import words

    items = [Item(item_id=f"p{i}", title=f"{ADJ[i % 10]} {NOUNS[i % 7]} 2x4 {i} in.") for i in range(40)]
    eng = SearchEngine.build(items, encoder=HashingEncoder())
    eng.upsert([Item(item_id="p3", title="Galvanized Steel Hose Reel 100-ft.")])
    eng.remove(["p5"])
    loaded = SearchEngine.load(eng.save(tmp_path / "e"), encoder=HashingEncoder())
    for e in (eng, loaded):
        for t, a, s in zip(e.lex_texts, e.alive, e.surface):
            assert set(s) == (set(words(t)) if a else set()) and len(s) == len(set(s))
        query = "galvanized steel hose 100 ft"
        cand = e.candidates(e.parse(query))
        order = np.argsort(-cand.score, kind="stable")[:15]
        raw = features(e, cand, order, query)[:, FEATURES.index("raw_cov")]
        qw = set(words(query))
        want = [len(qw & set(words(e.lex_texts[int(cand.rows[i])]))) / len(qw) for i in order]
        np.testing.assert_allclose(raw, want, rtol=1e-6)
        assert raw.max() == 1.0  # the changed title holds every word


def test_head_features_follow_the_title_type_and_reload(tmp_path):
    """The v3 features compare each title's product-type word (`product_head`, stemmed as the index stems)
    with the query's tokens; the engine keeps the heads per row through upserts, removals and save/load, and
    an engine saved before heads were kept reads them off its lexical texts."""
    import json
    import shutil

    items = [Item(item_id="saw", title="RIDGID 10 in. Portable Tile Saws with Laser"),
             Item(item_id="blade", title="Diablo 10 in. Tile Saw Blade"),
             Item(item_id="cutter", title="QEP 14 in. Tile Cutter"),
             Item(item_id="gone", title="Old Tile Saw"),
             Item(item_id="stop", title="The")]
    eng = SearchEngine.build(items, encoder=HashingEncoder())
    eng.upsert([Item(item_id="cutter", title="QEP 24 in. Manual Tile Saw in Red")])
    eng.remove(["gone"])
    folder = eng.save(tmp_path / "e")
    old = tmp_path / "old"  # the same engine without saved heads (saved before they were kept)
    shutil.copytree(folder, old)
    data = json.loads((old / "items.json").read_text())
    del data["heads"]
    (old / "items.json").write_text(json.dumps(data))
    for e in (eng, SearchEngine.load(folder, encoder=HashingEncoder()), SearchEngine.load(old, encoder=HashingEncoder())):
        head = {i: e.heads[e.ids.get(i)] for i in ("saw", "blade", "cutter", "gone", "stop")}
        assert head == {"saw": ("saw", "tile"), "blade": ("blade", "saw"), "cutter": ("saw", "tile"),
                        "gone": ("", ""), "stop": ("", "")}
        cand = e.candidates(e.parse("tile saw"))
        order = np.argsort(-cand.score, kind="stable")
        X = features(e, cand, order, "tile saw")
        col = {n: X[:, i] for i, n in enumerate(FEATURES)}
        by_id = {e.ids.ids[int(cand.rows[o])]: k for k, o in enumerate(order)}
        s, b = by_id["saw"], by_id["blade"]
        assert col["head_in_query"][s] == 1 and col["head_pair"][s] == 1 and col["head_from_end"][s] == 0
        assert col["head_in_query"][b] == 0 and col["head_pair"][b] == 0 and col["head_from_end"][b] == -1
        np.testing.assert_allclose(col["head_share"], 2 / 3, rtol=1e-6)  # saw and the changed cutter, not blade
        cq = e.candidates(e.parse("saw for tile"))  # the head word first: its distance from the query's end
        oq = np.argsort(-cq.score, kind="stable")
        sq = [e.ids.ids[int(cq.rows[o])] for o in oq].index("saw")
        Xq = features(e, cq, oq, "saw for tile")  # tokens "saw", "tile" ("for" is a stop word)
        assert Xq[sq, FEATURES.index("head_from_end")] == 1.0 and Xq[sq, FEATURES.index("head_pair")] == 1.0


def test_neighbour_features_say_what_their_definition_says_and_follow_the_engine(tmp_path):
    """v5: each candidate's nearest catalog items (`index.neighbours`) against the query's BM25 scores of the
    whole catalog. Checked column by column against the definition, through an update and a reload; an engine
    that keeps no neighbour lists leaves the columns missing."""
    from shopsense.index.config import IndexConfig

    items = [Item(item_id="a", title="acme cordless drill kit"), Item(item_id="b", title="acme cordless drill"),
             Item(item_id="c", title="acme cordless drill with case"), Item(item_id="d", title="garden hose reel"),
             Item(item_id="e", title="garden hose nozzle"), Item(item_id="f", title="red garden rake")]
    eng = SearchEngine.build(items, index=IndexConfig(neighbours=2), encoder=HashingEncoder())
    eng.upsert([Item(item_id="g", title="acme drill case")])
    eng.remove(["f"])
    folder = eng.save(tmp_path / "e")
    nb = FEATURES.index("nb_mean")
    for e in (eng, SearchEngine.load(folder, encoder=HashingEncoder())):
        assert e.ids.get("f") not in e.neighbours.rows and (e.neighbours.rows[e.ids.get("f")] == -1).all()
        cand = e.candidates(e.parse("cordless drill case"))
        order = np.argsort(-cand.score, kind="stable")
        X = features(e, cand, order, "cordless drill case")
        rows = cand.rows[order]
        toks = set(cand.tokens)
        for j, r in enumerate(rows.tolist()):
            nbr = [n for n in e.neighbours.rows[r].tolist() if n >= 0]
            s = cand.lex_all[nbr] / cand.lex_all.max()
            sims = e.neighbours.sims[r][:len(nbr)]
            held = set(e.lexical.docs[r]).union(*(e.lexical.docs[n] for n in nbr))
            want = [s.mean(), s.max(), (s * sims).sum() / sims.sum(), (s > 0).mean(), np.isin(nbr, rows).mean(),
                    len(toks & held) / len(toks), sims.mean()]
            np.testing.assert_allclose(X[j, nb:], want, rtol=1e-5, atol=1e-6)
        by_id = {e.ids.ids[r]: j for j, r in enumerate(rows.tolist())}
        # "acme cordless drill" lacks "case", which its neighbours hold; the hose's neighbours hold no query term
        assert X[by_id["b"], FEATURES.index("nb_cov")] == 1.0
        if "d" in by_id:
            assert X[by_id["d"], FEATURES.index("nb_pos")] < X[by_id["b"], FEATURES.index("nb_pos")]
    off = SearchEngine.build(items, index=IndexConfig(neighbours=0), encoder=HashingEncoder())
    cand = off.candidates(off.parse("cordless drill"))
    assert off.neighbours is None
    assert np.isnan(features(off, cand, np.arange(len(cand.rows)), "cordless drill")[:, nb:]).all()
