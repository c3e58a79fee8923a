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


def impute_unseen_ids(net, seen: np.ndarray, ridge: float = 1.0) -> int:
    """Give items never seen in training an ID vector predicted from their text/attribute part.

    A ridge regression side-vector -> ID-vector is fitted on the seen items (closed form, d x d) and
    applied to the unseen ones, so a brand-new item is scored like a trained item with the same text
    instead of by its side part alone (which the model learned only as a small correction to the ID).
    Returns how many items were imputed; a model without side information is left unchanged.
    """
    import torch

    seen = np.asarray(seen, bool)
    if net.id_emb is None or seen.all() or not seen.any():
        return 0
    with torch.no_grad():
        side = net.side_part()
        if side is None:
            return 0
        s_t, u_t = torch.as_tensor(seen), torch.as_tensor(~seen)
        x, y = side[s_t].double(), net.id_emb.weight[s_t].double()
        w = torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1], dtype=torch.float64), x.T @ y)
        net.id_emb.weight[u_t] = (side[u_t].double() @ w).float()
        net.id_mask.fill_(1.0)
    return int((~seen).sum())
