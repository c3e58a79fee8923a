from __future__ import annotations

import pytest

from shopsense.ingest.adapters import load_amazon_seq, load_amazon_text, load_homedepot, parse_amazon_text_line, shared_data_dir

needs_shared = pytest.mark.skipif(shared_data_dir() is None, reason="../shared/data not present")


def test_parse_amazon_text_line():
    assert parse_amazon_text_line("A. B. C. ") == ("A", "B", "C")
    assert parse_amazon_text_line("Model no. 5 drill. Tools Drills. Acme. ") == ("Model no. 5 drill", "Tools Drills", "Acme")


@needs_shared
def test_amazon_text():
    sd = load_amazon_text()
    assert sd.dataset.n_items == 4385 and sd.dataset.n_users > 8000
    train, valid, test = sd.split()
    assert all(len(t) >= 1 for t in train) and len(valid) == len(test) == len(train)
    assert sd.dataset.items[0].title and sd.dataset.items[0].brand


@needs_shared
def test_amazon_seq_beauty():
    sd = load_amazon_seq("Beauty")
    assert sd.dataset.n_users == 22363 and sd.dataset.n_items == 12101
    assert sd.dataset.items[0].attributes["attribute_ids"]


@needs_shared
def test_homedepot():
    j = load_homedepot()
    assert len(j.items) == 54667 and len(j.qrels["test"]) == 2395
