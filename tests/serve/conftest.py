from __future__ import annotations

import argparse
import csv

import pytest

from tests.conftest import SAMPLE


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    """(settings, engine, store) on the bundled sample, hashing encoder, rule-based ranker (fast)."""
    from shopsense.cli.ingest import cmd_ingest
    from shopsense.rank.build import build_engine
    from shopsense.settings import load_settings
    from shopsense.store import open_store

    d = tmp_path_factory.mktemp("shop")
    settings = load_settings(data_dir=str(d), pseudonym_key="k" * 32, text={"encoder": "hashing"},
                             ingest={"progress": False}, rank={"ranker": "rules"})
    cmd_ingest(argparse.Namespace(items=[str(SAMPLE / "items.csv")], events=[str(SAMPLE / "events.csv")],
                                  format=None), settings)
    store = open_store(settings.resolved_store_url())
    engine = build_engine(settings, store.load_dataset(), train_ranker=False)
    yield settings, engine, store
    store.close()


@pytest.fixture(scope="session")
def client(served):
    from fastapi.testclient import TestClient

    from shopsense.serve.app import create_app

    settings, engine, store = served
    return TestClient(create_app(settings, engine=engine, store=store))


@pytest.fixture(scope="session")
def sample_user():
    with open(SAMPLE / "events.csv") as f:
        row = next(csv.DictReader(f))
    return row["user_id"], row["item_id"]
