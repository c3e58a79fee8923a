"""Settings of the serve stage: address, API keys, request limits.

API keys (header ``X-API-Key``):
- ``read_keys``: clients of the shop front (search, recommendations, item pages, POST /events, profiles).
  Empty list = those endpoints are open (the default, so the bundled shop page works out of the box).
- ``admin_keys``: operators (POST /admin/reload, /admin/config). Empty = admin endpoints are disabled.
  An admin key is accepted wherever a read key is.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from shopsense.config import ComponentConfig


class ServeConfig(ComponentConfig):
    """Settings of the serve stage. API keys go in the X-API-Key header: read_keys open search, recommendations,
    item pages, profiles and POST /events (empty = open); admin_keys open /admin/* (empty = disabled)."""

    host: str = Field("127.0.0.1", description="bind address; keep loopback unless behind a proxy")
    port: int = Field(8000, ge=1, le=65535)
    read_keys: list[SecretStr] = Field(default_factory=list, description="keys for read + event endpoints")
    admin_keys: list[SecretStr] = Field(default_factory=list, description="keys for admin endpoints")
    max_body_bytes: int = Field(256_000, ge=1024, description="larger request bodies get 413")
    max_events_per_request: int = Field(500, ge=1)
    max_results: int = Field(100, ge=1, description="upper bound of the n / k query parameter")
    max_query_chars: int = Field(300, ge=1)
    static: bool = Field(True, description="serve the shop page at /")
    workers: int = Field(1, ge=1, description="server processes (`shopsense serve`); each holds the models, live state "
                                              "is shared through the store's live log")
    balance_connections: bool = Field(True, description="with workers > 1: a worker holding more than its share of the "
                                                        "keep-alive connections asks a client to reconnect "
                                                        "(Connection: close), so the split stays even")
    sync_interval_ms: int = Field(100, ge=0, description="how often a server replays what other server processes on "
                                                         "the same store logged (events, forgets, reloads); 0 = never")
    live_log_retention_s: float = Field(3600.0, gt=0, description="live-log entries older than this are trimmed")
    query_batch: int = Field(16, ge=0, description="encode up to this many waiting /search queries in one batch "
                                                    "(cheaper per query under load, no wait when idle); 0 or 1 = off")
    blas_threads: int | None = Field(1, ge=1, description="BLAS threads in the server process (requests already run "
                                                           "in parallel; more BLAS threads only contend); None = leave")
