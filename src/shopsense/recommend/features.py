"""Item side information for the fused models: attribute ids and pretrained text embeddings."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from shopsense.types import Item


def has_attribute_ids(items: Sequence[Item]) -> bool:
    return any(it.attributes.get("attribute_ids") for it in items)


def attribute_csr(items: Sequence[Item]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Attribute ids of every item as (flat dense ids, per-item offsets, vocabulary of raw ids)."""
    vocab: dict[str, int] = {}
    flat: list[int] = []
    offsets = np.zeros(len(items), dtype=np.int64)
    for r, it in enumerate(items):
        offsets[r] = len(flat)
        for a in it.attributes.get("attribute_ids", []) or []:
            flat.append(vocab.setdefault(str(a), len(vocab)))
    return np.asarray(flat, np.int64), offsets, list(vocab)


def attribute_csr_with_vocab(items: Sequence[Item], vocab: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Same as `attribute_csr` against a saved vocabulary (unknown attribute ids are dropped)."""
    index = {a: i for i, a in enumerate(vocab)}
    flat: list[int] = []
    offsets = np.zeros(len(items), dtype=np.int64)
    for r, it in enumerate(items):
        offsets[r] = len(flat)
        flat.extend(index[str(a)] for a in it.attributes.get("attribute_ids", []) or [] if str(a) in index)
    return np.asarray(flat, np.int64), offsets


def text_embeddings(items: Sequence[Item], encoder, fields: Sequence[str] = ("title", "category", "brand"),
                    max_chars: int = 1000, progress: bool = False) -> np.ndarray:
    """Encode every item's text with `encoder` (anything with `.encode(texts)` -> (n, d) float32)."""
    from shopsense.text.itemtext import item_text

    texts = [item_text(it, fields, max_chars) or it.item_id for it in items]
    return np.asarray(encoder.encode(texts, progress=progress), dtype=np.float32)
