"""Detectors on the real Amazon Industrial & Scientific catalog (skipped without ../shared/data)."""
from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from shopsense.ingest.adapters import shared_data_dir
from shopsense.quality.duplicates import find_duplicates
from shopsense.types import Item

pytestmark = pytest.mark.skipif(shared_data_dir() is None, reason="shared data not available")


def test_planted_near_duplicates_found_in_real_catalog():
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
    from bench_quality_dups import perturb
    from shopsense.ingest.adapters import load_amazon_text

    items = load_amazon_text().dataset.items
    rng = random.Random(3)
    picks = rng.sample(range(len(items)), 150)
    copies = [Item(item_id=f"dup-{items[i].item_id}", title=perturb(items[i].title, rng), brand=items[i].brand)
              for i in picks]
    truth = {c.item_id: items[i].item_id for c, i in zip(copies, picks)}
    clusters = find_duplicates(items + copies)
    cluster_of = {m: c.cluster_id for c in clusters for m in c.member_ids}
    found = sum(1 for c, o in truth.items() if c in cluster_of and cluster_of[c] == cluster_of.get(o))
    # default guard rejects "word dropped + marketing word added" copies as substitutions (a variant
    # pattern), so recall is below the guard-off detector by design
    assert found / len(truth) >= 0.8
    wrong = sum(1 for c in clusters for m in c.member_ids if m.startswith("dup-")
                for o in c.member_ids if o != m and o != truth[m] and not o.startswith("dup-"))
    pairs = sum(1 for c in clusters for m in c.member_ids if m.startswith("dup-") for o in c.member_ids if o != m)
    assert wrong / max(1, pairs) <= 0.2  # other members are mostly natural near-duplicates of the original
