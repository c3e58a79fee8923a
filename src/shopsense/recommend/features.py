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


def content_vectors(text: np.ndarray | None = None, attr_index: np.ndarray | None = None,
                    attr_offsets: np.ndarray | None = None, n_attrs: int = 0, max_dim: int = 256) -> np.ndarray:
    """Fixed unit-norm item vectors for the sequential model's content channel (cosine similarity to the
    user's recent items): the L2-normalised text embedding, or the IDF-weighted attribute bag; with more than
    `max_dim` dimensions, the top `max_dim` right singular directions (uncentred SVD) keep the cosines close
    at a bounded scoring cost. Text and attributes are concatenated when both are given. Items with neither
    get a zero vector."""
    parts = []
    if text is not None:
        t = np.asarray(text, np.float64)
        parts.append(t / np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1e-12))
    if attr_index is not None and n_attrs > 0:
        n = len(attr_offsets)
        counts = np.diff(np.append(attr_offsets, len(attr_index)))
        rows = np.repeat(np.arange(n), counts)
        bag = np.zeros((n, n_attrs))
        np.add.at(bag, (rows, attr_index), 1.0)
        idf = np.maximum(np.log(n / (1.0 + (bag > 0).sum(0))), 0.0)
        bag *= idf
        parts.append(bag / np.maximum(np.linalg.norm(bag, axis=1, keepdims=True), 1e-12))
    if not parts:
        raise ValueError("content_vectors needs text or attributes")
    x = np.hstack(parts) / np.sqrt(len(parts))
    if x.shape[1] > max_dim:
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        x = x @ vt[:max_dim].T
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return x.astype(np.float32)
