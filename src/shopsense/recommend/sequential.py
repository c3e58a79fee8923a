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
        h, q = net.last_state([np.asarray(x, np.int64) for x in histories], table)
        out = net.logits(h, table, q)
        if float(net.unseen_bias) != 0.0:
            out = out + net.unseen_bias * (1.0 - net.id_mask[:, 0])
        out = out.numpy()
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


def fit_unseen_bias(net, histories: Sequence[np.ndarray], targets: np.ndarray, tolerance: float = 0.01,
                    grid: Sequence[float] = tuple(np.arange(0.0, 6.01, 0.25)), min_targets: int = 20) -> dict:
    """Calibrate never-seen items against trained ones with one logit `b` added to every item unseen in
    training, fitted on validation users (never test).

    The text path of a never-seen item generalises worse than the text part of an item the model trained on,
    so its score comes out low next to trained items' scores, and in a full ranking new items rarely surface.
    `b` is the LARGEST value on `grid` whose NDCG@10 over ALL the given validation users (warm and cold targets
    together) is within `tolerance` (relative) of the best value on the grid: new items are promoted as far as
    that costs at most `tolerance` of overall accuracy (tolerance 0 = plain best overall NDCG@10).
    Needs at least `min_targets` validation targets unseen in training, else b = 0.
    Sets `net.unseen_bias` and returns {"bias", "n_unseen_targets", "ndcg10_by_bias"}."""
    import torch

    from shopsense.evaluate.metrics import target_ranks

    targets = np.asarray(targets, np.int64)
    unseen = net.id_mask[:, 0].numpy() == 0
    n_cold = int(unseen[targets].sum()) if len(targets) else 0
    out = {"bias": 0.0, "n_unseen_targets": n_cold, "ndcg10_by_bias": {}}
    has_side = net.text_proj is not None or net.attr_emb is not None or net.content is not None
    with torch.no_grad():
        net.unseen_bias.fill_(0.0)
    if n_cold < min_targets or not has_side:
        return out
    gains = np.zeros(len(grid))
    for s in range(0, len(targets), 1024):
        hist = [np.asarray(h, np.int64) for h in histories[s:s + 1024]]
        sc = net_scores(net, hist).astype(np.float64)
        rows = np.repeat(np.arange(len(hist)), [len(h) for h in hist])
        sc[rows, np.concatenate(hist) if hist else np.zeros(0, np.int64)] = -np.inf
        for g, b in enumerate(grid):
            r = target_ranks(sc + b * unseen, targets[s:s + len(hist)])
            gains[g] += np.where(r < 10, 1.0 / np.log2(r + 2.0), 0.0).sum()
    ndcg = gains / len(targets)
    ok = np.flatnonzero(ndcg >= (1.0 - tolerance) * ndcg.max())
    bias = float(grid[int(ok.max())])
    out.update(bias=bias, ndcg10_by_bias={f"{b:g}": round(float(v), 5) for b, v in zip(grid, ndcg)})
    with torch.no_grad():
        net.unseen_bias.fill_(bias)
    return out
