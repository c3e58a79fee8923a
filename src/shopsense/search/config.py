from __future__ import annotations

from shopsense.config import ComponentConfig


class SearchConfig(ComponentConfig):
    """Settings of the search stage (extended as the stage grows)."""
