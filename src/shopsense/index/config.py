from __future__ import annotations

from shopsense.config import ComponentConfig


class IndexConfig(ComponentConfig):
    """Settings of the index stage (extended as the stage grows)."""
