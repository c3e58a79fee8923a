"""Helpers around `SASRecNet` that need torch (imported lazily by the recommender and the benchmark)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def mark_unseen_items(net, train_seqs: Sequence[np.ndarray]) -> np.ndarray:
    """Zero the ID vector of items that occur in no training sequence: such an item is represented by its
    text/attribute part alone (ID-only model: a zero vector) rather than by an untrained random vector."""
    import torch

    seen = np.zeros(net.n_items, dtype=bool)
    for s in train_seqs:
        seen[np.asarray(s, np.int64)] = True
    net.id_mask.copy_(torch.as_tensor(seen, dtype=torch.float32).unsqueeze(1))
    return seen


def net_scores(net, histories: Sequence[np.ndarray], table=None) -> np.ndarray:
    """Scores of every item for each history, (len(histories), n_items) float32."""
    import torch

    with torch.no_grad():
        was_training = net.training
        net.eval()
        if table is None:
            table = net.item_table()
        h = net.last_hidden([np.asarray(x, np.int64) for x in histories], table)
        out = (h @ table.T).numpy()
        if was_training:
            net.train()
    return out
