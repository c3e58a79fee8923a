from __future__ import annotations

from shopsense.config import ComponentConfig


class RankConfig(ComponentConfig):
    """Settings of the rank stage (extended as the stage grows)."""
