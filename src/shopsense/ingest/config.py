from __future__ import annotations

from pydantic import Field

from shopsense.config import ComponentConfig


class IngestConfig(ComponentConfig):
    chunk_size: int = Field(50_000, ge=1, description="rows validated and committed per transaction")
    block_bytes: int = Field(4 << 20, ge=1 << 12, description="bytes parsed per block on the columnar CSV fast path")
    max_title_len: int = Field(1_000, ge=1)
    max_text_len: int = Field(100_000, ge=1, description="description / query length limit (chars)")
    max_rating: float = Field(5.0, gt=0)
    session_gap_minutes: float = Field(30.0, gt=0, description="gap that starts a new session when none is given")
    worker_min_bytes: int | None = Field(
        32 << 20, ge=0, description="event CSV files at least this big are parsed and validated in a second process "
                                    "while this one writes (uses two cores); null = never")
    progress: bool = True
