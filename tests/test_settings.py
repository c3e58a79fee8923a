from __future__ import annotations

import pytest

from shopsense.errors import ConfigError
from shopsense.settings import load_settings


def test_defaults_and_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOPSENSE_INGEST__CHUNK_SIZE", "123")
    monkeypatch.delenv("SHOPSENSE_CONFIG", raising=False)
    s = load_settings(data_dir=tmp_path)
    assert s.ingest.chunk_size == 123
    assert s.resolved_store_url() == f"sqlite:///{tmp_path / 'shop.db'}"


def test_toml_file_and_unknown_keys(monkeypatch, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[ingest]\nchunk_size = 7\n")
    monkeypatch.delenv("SHOPSENSE_INGEST__CHUNK_SIZE", raising=False)
    assert load_settings(cfg).ingest.chunk_size == 7
    cfg.write_text("[ingest]\nchunk_sise = 7\n")
    with pytest.raises(ConfigError, match="ingest.chunk_sise"):
        load_settings(cfg)
    cfg.write_text("[ingest]\nchunk_size = -1\n")
    with pytest.raises(ConfigError, match="ingest.chunk_size"):
        load_settings(cfg)


def test_missing_config_file(monkeypatch, tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_pseudonym_key_file_is_created_once(tmp_path, monkeypatch):
    monkeypatch.delenv("SHOPSENSE_CONFIG", raising=False)
    s = load_settings(data_dir=tmp_path)
    k1 = s.hmac_key()
    assert len(k1) == 64 and (tmp_path / "pseudonym.key").stat().st_mode & 0o777 == 0o600
    assert load_settings(data_dir=tmp_path).hmac_key() == k1
    with pytest.raises(ConfigError, match="shorter than 16"):
        load_settings(data_dir=tmp_path, pseudonym_key="short").hmac_key()
