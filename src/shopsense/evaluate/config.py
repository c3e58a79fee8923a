from __future__ import annotations

from shopsense.config import ComponentConfig


class EvaluateConfig(ComponentConfig):
    """Settings of the evaluate stage (extended as the stage grows)."""
