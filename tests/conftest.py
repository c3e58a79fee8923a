from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"


@pytest.fixture
def store(tmp_path):
    from shopsense.store import open_store

    s = open_store(f"sqlite:///{tmp_path / 'shop.db'}")
    yield s
    s.close()


@pytest.fixture
def pseudo():
    from shopsense.ingest.pseudonym import Pseudonymizer

    return Pseudonymizer(b"test-key-0123456789abcdef")


@pytest.fixture
def quiet_cfg():
    from shopsense.ingest.config import IngestConfig

    return IngestConfig(progress=False, chunk_size=1000)
