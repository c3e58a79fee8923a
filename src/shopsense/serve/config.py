from __future__ import annotations

from shopsense.config import ComponentConfig


class ServeConfig(ComponentConfig):
    """Settings of the serve stage (extended as the stage grows)."""
