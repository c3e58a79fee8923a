from __future__ import annotations

from shopsense.config import ComponentConfig


class QualityConfig(ComponentConfig):
    """Settings of the quality stage (extended as the stage grows)."""
