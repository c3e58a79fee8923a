from __future__ import annotations

from shopsense.config import ComponentConfig


class RecommendConfig(ComponentConfig):
    """Settings of the recommend stage (extended as the stage grows)."""
