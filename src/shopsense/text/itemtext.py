"""Build the text an encoder sees for an item, from configurable fields."""

from __future__ import annotations

from typing import Sequence

from shopsense.types import Item


def item_text(item: Item, fields: Sequence[str] = ("title", "category", "brand", "attributes", "description"),
              max_chars: int = 1000) -> str:
    parts: list[str] = []
    for f in fields:
        if f == "title":
            parts.append(item.title)
        elif f == "category" and item.category:
            parts.append(" > ".join(item.category))
        elif f == "brand" and item.brand:
            parts.append(item.brand)
        elif f == "attributes" and item.attributes:
            parts.append(", ".join(f"{k}: {v}" for k, v in item.attributes.items() if v not in (None, "")))
        elif f == "description" and item.description:
            parts.append(item.description)
        elif f not in ("title", "category", "brand", "attributes", "description"):
            raise ValueError(f"unknown item text field {f!r} — use title, category, brand, attributes or description")
    return ". ".join(p.strip() for p in parts if p and p.strip())[:max_chars]
