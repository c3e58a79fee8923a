"""The one settings object of a shopsense process.

Sources, highest priority first: keyword arguments, environment (prefix ``SHOPSENSE_``, nested with
``__``, e.g. ``SHOPSENSE_INGEST__CHUNK_SIZE=10000``), a TOML file (``--config`` or
``SHOPSENSE_CONFIG``), defaults. See ``configs/shopsense.example.toml`` for every key.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shopsense.errors import ConfigError
from shopsense.evaluate.config import EvaluateConfig
from shopsense.index.config import IndexConfig
from shopsense.ingest.config import IngestConfig
from shopsense.quality.config import QualityConfig
from shopsense.rank.config import RankConfig
from shopsense.recommend.config import RecommendConfig
from shopsense.search.config import SearchConfig
from shopsense.serve.config import ServeConfig
from shopsense.text.config import TextConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPSENSE_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(Path("var"), description="where the store, models, indexes and caches live")
    store_url: str | None = Field(None, description="default: sqlite:///<data_dir>/shop.db")
    pseudonym_key: SecretStr | None = Field(
        None, description="HMAC key for user ids; default: a random key kept in <data_dir>/pseudonym.key")

    ingest: IngestConfig = Field(default_factory=IngestConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    text: TextConfig = Field(default_factory=TextConfig)
    index: IndexConfig = Field(default_factory=IndexConfig)
    search: SearchConfig = Field(default_factory=SearchConfig)
    recommend: RecommendConfig = Field(default_factory=RecommendConfig)
    rank: RankConfig = Field(default_factory=RankConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)
    evaluate: EvaluateConfig = Field(default_factory=EvaluateConfig)

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _TomlSource(settings_cls))

    def resolved_store_url(self) -> str:
        return self.store_url or f"sqlite:///{self.data_dir / 'shop.db'}"

    def path(self, *parts: str) -> Path:
        p = self.data_dir.joinpath(*parts)
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def hmac_key(self) -> bytes:
        """The pseudonymisation key. Without one configured, a random key is created once in the data
        dir (mode 0600) so pseudonyms stay stable across runs of this installation."""
        if self.pseudonym_key is not None:
            key = self.pseudonym_key.get_secret_value().encode()
            if len(key) < 16:
                raise ConfigError("SHOPSENSE_PSEUDONYM_KEY is shorter than 16 bytes — use a long random secret, "
                                  "e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`")
            return key
        key_file = self.path("pseudonym.key")
        if not key_file.exists():
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
        return key_file.read_text().strip().encode()


# The --config path for the Settings() call in progress (a context variable, so loading settings
# never changes the process environment).
_CONFIG_PATH: ContextVar[str | None] = ContextVar("shopsense_config_path", default=None)


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the TOML file named by SHOPSENSE_CONFIG (set by `shopsense --config`)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _CONFIG_PATH.get() or os.environ.get("SHOPSENSE_CONFIG")
        if not path:
            return {}
        try:
            with open(path, "rb") as f:
                return tomllib.load(f)
        except FileNotFoundError:
            raise ConfigError(f"config file {path!r} does not exist — fix --config / SHOPSENSE_CONFIG") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {path!r} is not valid TOML: {e}") from None


def load_settings(config: str | Path | None = None, **overrides: Any) -> Settings:
    """Build and validate the settings once; a bad value raises ConfigError naming the key."""
    token = _CONFIG_PATH.set(str(config) if config is not None else None)
    try:
        return Settings(**overrides)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(x) for x in err["loc"])
            lines.append(f"  {key}: {err['msg']}")
        raise ConfigError("invalid settings:\n" + "\n".join(lines) +
                          "\nfix them in the config file or the SHOPSENSE_* environment variables "
                          "(see configs/shopsense.example.toml)") from None
    finally:
        _CONFIG_PATH.reset(token)
