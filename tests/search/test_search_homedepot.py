"""Real-data check on Home Depot (slow; skipped when /work/shared data is absent)."""
from __future__ import annotations

import pytest

from shopsense.ingest.adapters import shared_data_dir

pytestmark = pytest.mark.slow


def test_bm25_and_hybrid_on_a_homedepot_slice():
    if shared_data_dir() is None:
        pytest.skip("shared data not available")
    from shopsense.evaluate.search_eval import evaluate_rankings
    from shopsense.ingest.adapters import load_homedepot
    from shopsense.search.engine import SearchEngine
    from shopsense.text.encoder import HashingEncoder

    j = load_homedepot()
    items = j.items[:8000]
    ids = {i.item_id for i in items}
    qrels = {q: {p: r for p, r in rel.items() if p in ids} for q, rel in j.qrels["test"].items()}
    qrels = {q: r for q, r in qrels.items() if any(v >= 2.5 for v in r.values())}
    qids = sorted(qrels)[:150]
    eng = SearchEngine.build(items, encoder=HashingEncoder())
    runs = {q: eng.search(j.queries["test"][q], k=100, mode="bm25").items.ids for q in qids}
    res = evaluate_rankings(runs, {q: qrels[q] for q in qids})
    assert res.ndcg > 0.25 and res.recall > 0.5  # judged products are findable by their own queries
    runs_h = {q: eng.search(j.queries["test"][q], k=100).items.ids for q in qids}
    assert evaluate_rankings(runs_h, {q: qrels[q] for q in qids}).ndcg > 0.2
