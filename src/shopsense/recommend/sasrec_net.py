"""SASRec-style causal transformer over item sequences, with text-fused item representations.

Torch is imported lazily by callers of `build_net` / `train_net` (this module imports torch at top
and is only imported from inside functions of `sequential.py` and the benchmark).

Item representation (shared by the input and the output layer, as in SASRec):

    e_i = (E_id[i] if i has an ID vector else n) + W_text · t_i + mean(A[a] for a in attributes(i))

- `E_id` is the ID embedding; items never seen in training have none (`id_mask` 0) and get `n`, zero or one
  learned "null ID" vector (`cold_id`), so a brand-new item is represented by its text part plus a learned offset
  instead of by an untrained random vector;
- `t_i` a fixed pretrained text embedding (MiniLM) projected by a learned linear map;
- `A` learned attribute embeddings (amazon-seq files carry attribute ids instead of titles).
Any of the three parts can be off: ID-only SASRec is `use_id=True` with no text and no attributes.

Score of item i after history u:  h_u · e_i  [+ g · cos(c_u, c_i)]  [+ b if i is unseen in training]
- the optional content channel: c_i fixed unit vectors (text / IDF attribute bag), c_u the normalised mean of
  the last `content_window` history items' vectors, g one learned gain. Nothing item-specific is learned, so it
  scores a never-seen item exactly as it would a trained one (the learned text part does not: it is fitted to
  the trained items and generalises worse to new ones);
- b, `unseen_bias`, is a calibration fitted after training on validation users (`sequential.fit_unseen_bias`).

Loss: full-softmax cross-entropy over all items at every position of the (right-padded) sequence —
which trains on every prefix in one pass — or a sampled softmax with shared uniform negatives;
plus an optional alignment term L = L_rec + alpha * L_align (in-batch InfoNCE between the ID vector and
the text/attribute vector of the target items), and an optional text loss (a second full softmax over the
text-only table, every item scored as if it had no ID). `id_dropout` replaces whole ID vectors by the null ID
during training (input and output side alike) so the model also learns to rank items from their text alone
(DropoutNet-style cold-start training).

Hand-written rather than taken from RecBole: RecBole pins numpy<2 and an old torch, and none of the
maintained libraries fuse a frozen text embedding into SASRec's item table.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


@dataclass
class ItemFeatures:
    """Side information of items (rows = item rows). Either part may be None."""

    text: np.ndarray | None = None          # (n_items, d_text) float32, fixed pretrained vectors
    attr_index: np.ndarray | None = None    # flat attribute ids (CSR values), int64
    attr_offsets: np.ndarray | None = None  # (n_items,) start offsets into attr_index, int64
    n_attrs: int = 0
    content: np.ndarray | None = None       # (n_items, d_c) fixed unit-norm vectors for the content channel

    @property
    def has_text(self) -> bool:
        return self.text is not None

    @property
    def has_attrs(self) -> bool:
        return self.attr_index is not None and self.n_attrs > 0


class SASRecNet(nn.Module):
    def __init__(self, n_items: int, dim: int = 64, max_len: int = 50, n_layers: int = 2, n_heads: int = 1,
                 dropout: float = 0.5, use_id: bool = True, features: ItemFeatures | None = None,
                 cold_id: str = "zero", content_window: int = 10) -> None:
        super().__init__()
        feats = features or ItemFeatures()
        self.n_items, self.dim, self.max_len, self.use_id = n_items, dim, max_len, use_id
        if not use_id and not (feats.has_text or feats.has_attrs):
            raise ValueError("SASRecNet needs an ID embedding or item features")
        self.id_emb = nn.Embedding(n_items, dim) if use_id else None
        if self.id_emb is not None:
            nn.init.normal_(self.id_emb.weight, std=0.02)
        self.register_buffer("id_mask", torch.ones(n_items, 1))  # 0 for items unseen in training
        if cold_id not in ("zero", "learned"):
            raise ValueError(f"cold_id must be 'zero' or 'learned', got {cold_id!r}")
        has_side = feats.has_text or feats.has_attrs
        # the ID vector of an item without one (unseen in training, or dropped by id_dropout): zero, or one
        # learned vector shared by all such items (a learned offset/calibration of the text-only path)
        self.id_null = nn.Parameter(torch.zeros(dim)) if use_id and has_side and cold_id == "learned" else None
        # logit added to items unseen in training at scoring time (calibration against trained items; fitted on
        # validation targets by `sequential.fit_unseen_bias`, 0 = none)
        self.register_buffer("unseen_bias", torch.zeros(()))
        if feats.has_text:
            self.register_buffer("text", torch.as_tensor(feats.text, dtype=torch.float32))
            self.text_proj: nn.Module | None = nn.Linear(feats.text.shape[1], dim)
        else:
            self.text, self.text_proj = None, None
        if feats.has_attrs:
            self.register_buffer("attr_index", torch.as_tensor(feats.attr_index, dtype=torch.long))
            self.register_buffer("attr_offsets", torch.as_tensor(feats.attr_offsets, dtype=torch.long))
            self.attr_emb: nn.Module | None = nn.EmbeddingBag(feats.n_attrs, dim, mode="mean")
            nn.init.normal_(self.attr_emb.weight, std=0.02)
        else:
            self.attr_index = self.attr_offsets = None
            self.attr_emb = None
        # content channel: + gain * cos(mean content vector of the last `content_window` history items, item's
        # content vector). Fixed vectors and one learned gain: nothing item-specific is learned, so it scores a
        # never-seen item exactly as it would a trained one (no memorisation gap, unlike the learned text part)
        if feats.content is not None:
            self.register_buffer("content", torch.as_tensor(feats.content, dtype=torch.float32))
            self.content_gain: nn.Parameter | None = nn.Parameter(torch.tensor(5.0))
        else:
            self.content, self.content_gain = None, None
        self.content_window = content_window
        self.pos_emb = nn.Embedding(max_len, dim)
        nn.init.normal_(self.pos_emb.weight, std=0.02)  # default N(0,1) would drown the item signal
        layer = nn.TransformerEncoderLayer(dim, n_heads, dim_feedforward=dim, dropout=dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.in_ln = nn.LayerNorm(dim)
        self.out_ln = nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)

    def side_part(self) -> torch.Tensor | None:
        """The text + attribute part of every item's vector (n_items, dim), or None."""
        out = None
        if self.text_proj is not None:
            out = self.text_proj(self.text)
        if self.attr_emb is not None:
            a = self.attr_emb(self.attr_index, self.attr_offsets)
            out = a if out is None else out + a
        return out

    def item_table(self, id_dropout: float = 0.0, side: torch.Tensor | None = None) -> torch.Tensor:
        """Every item's vector: ID part (or the null ID where there is none) + side part."""
        side = self.side_part() if side is None else side
        if self.id_emb is None:
            return side
        keep = self.id_mask
        if id_dropout > 0 and self.training:
            keep = keep * (torch.rand(self.n_items, 1, device=keep.device) >= id_dropout).float()
        e = self.id_emb.weight * keep
        if self.id_null is not None:
            e = e + (1.0 - keep) * self.id_null
        return e if side is None else e + side

    def text_table(self, side: torch.Tensor | None = None) -> torch.Tensor | None:
        """Every item as if it had no ID (side part + null ID): how a never-seen item is scored."""
        side = self.side_part() if side is None else side
        if side is None:
            return None
        return side if self.id_null is None else side + self.id_null

    def encode(self, seq: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """seq: (B, L) item rows, right-padded with -1. Returns hidden states (B, L, dim)."""
        b, length = seq.shape
        padded = torch.cat([table, table.new_zeros(1, self.dim)])
        x = padded[seq.clamp(min=-1) % (self.n_items + 1)] * math.sqrt(self.dim)
        x = x + self.pos_emb.weight[:length].unsqueeze(0)
        x = self.drop(self.in_ln(x))
        causal = torch.triu(torch.full((length, length), float("-inf")), diagonal=1)
        h = self.encoder(x, mask=causal, is_causal=True)
        return self.out_ln(h)

    def content_query(self, seq: torch.Tensor) -> torch.Tensor | None:
        """(B, L) right-padded rows -> (B, L, d_c): unit mean content vector of the last `content_window`
        items up to each position (causal), or None without a content channel."""
        if self.content is None:
            return None
        padded = torch.cat([self.content, self.content.new_zeros(1, self.content.shape[1])])
        cs = padded[seq.clamp(min=-1) % (self.n_items + 1)].cumsum(1)
        k = self.content_window
        if cs.shape[1] > k:
            cs = torch.cat([cs[:, :k], cs[:, k:] - cs[:, :-k]], 1)
        return F.normalize(cs, dim=-1)

    def logits(self, h: torch.Tensor, table: torch.Tensor, q: torch.Tensor | None,
               items: torch.Tensor | None = None) -> torch.Tensor:
        """Scores (N, n_items) — or (N, len(items)) — for user states h (N, dim) and content queries q."""
        out = h @ (table if items is None else table[items]).T
        if q is not None and self.content is not None:
            c = self.content if items is None else self.content[items]
            out = out + self.content_gain * (q @ c.T)
        return out

    @torch.no_grad()
    def last_hidden(self, seqs: list[np.ndarray], table: torch.Tensor) -> torch.Tensor:
        """Hidden state after the last item of each history (empty histories -> zeros)."""
        return self.last_state(seqs, table)[0]

    @torch.no_grad()
    def last_state(self, seqs: list[np.ndarray], table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(hidden state, content query) after the last item of each history (empty histories -> zeros)."""
        batch, lens = pad_right(seqs, self.max_len)
        seq = torch.as_tensor(batch)
        h = self.encode(seq, table)
        idx, rows, empty = torch.as_tensor(np.maximum(lens - 1, 0)), torch.arange(len(seqs)), torch.as_tensor(lens == 0)
        out = h[rows, idx]
        out[empty] = 0.0
        q = self.content_query(seq)
        if q is not None:
            q = q[rows, idx]
            q[empty] = 0.0
        return out, q


def pad_right(seqs: list[np.ndarray], max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep the last `max_len` items of each sequence, right-pad with -1 to the batch's longest."""
    cut = [np.asarray(s, np.int64)[-max_len:] for s in seqs]
    lens = np.array([len(s) for s in cut], dtype=np.int64)
    width = max(1, int(lens.max()) if len(lens) else 1)
    out = np.full((len(cut), width), -1, dtype=np.int64)
    for i, s in enumerate(cut):
        out[i, :len(s)] = s
    return out, lens


@dataclass
class TrainConfig:
    epochs: int = 200
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    loss: str = "full"            # "full" | "sampled"
    n_negatives: int = 1024       # sampled softmax only
    align_alpha: float = 0.0
    align_temperature: float = 0.1
    id_dropout: float = 0.0
    text_loss: float = 0.0        # weight of an extra softmax over the text-only table (every item without ID)
    patience: int = 5
    eval_every: int = 1
    time_budget_s: float = 15 * 60
    seed: int = 0


@dataclass
class TrainResult:
    best_epoch: int = 0
    best_valid_ndcg10: float = 0.0
    epochs_run: int = 0
    wall_s: float = 0.0
    history: list[dict] = field(default_factory=list)
    stopped: str = ""


def _align_loss(net: SASRecNet, items: torch.Tensor, temperature: float) -> torch.Tensor:
    side = net.side_part()
    if side is None or net.id_emb is None:
        return torch.zeros(())
    items = torch.unique(items)[:2048]
    a = F.normalize(net.id_emb.weight[items], dim=-1)
    b = F.normalize(side[items], dim=-1)
    logits = a @ b.T / temperature
    target = torch.arange(len(items))
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def train_net(net: SASRecNet, train_seqs: list[np.ndarray], cfg: TrainConfig,
              validate: Callable[[SASRecNet], float] | None = None,
              catalog_mask: np.ndarray | None = None, progress: bool = True,
              log: Callable[[str], None] | None = None) -> TrainResult:
    """Train on every prefix of every training sequence; keep the state with the best validation
    NDCG@10 (`validate` returns it, computed on a validation split — never on test).
    `catalog_mask[i]=False` removes item i from the softmax (items unknown at training time)."""
    from tqdm.auto import tqdm

    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    pairs = [(s[:-1][-net.max_len:], s[1:][-net.max_len:]) for s in train_seqs if len(s) >= 2]
    if not pairs:
        raise ValueError("no training sequence has two or more items")
    order = np.argsort([len(p[0]) for p in pairs], kind="stable")  # length buckets: little padding
    batches = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    blocked = None if catalog_mask is None else torch.as_tensor(~np.asarray(catalog_mask, bool))
    allowed = None if catalog_mask is None else np.flatnonzero(catalog_mask)
    res, best_state, bad, t0 = TrainResult(best_valid_ndcg10=-1.0), None, 0, time.time()
    for epoch in range(1, cfg.epochs + 1):
        net.train()
        total, count = 0.0, 0
        bar = tqdm(rng.permutation(len(batches)), desc=f"epoch {epoch}", leave=False, disable=not progress)
        for bi in bar:
            idx = batches[bi]
            inp, _ = pad_right([pairs[i][0] for i in idx], net.max_len)
            tgt, _ = pad_right([pairs[i][1] for i in idx], net.max_len)
            side = net.side_part()
            table = net.item_table(cfg.id_dropout, side=side)
            h = net.encode(torch.as_tensor(inp), table)
            q = net.content_query(torch.as_tensor(inp))
            tgt_t = torch.as_tensor(tgt)
            valid = tgt_t >= 0
            hv, tv = h[valid], tgt_t[valid]
            qv = None if q is None else q[valid]
            if cfg.loss == "sampled":
                pool = allowed if allowed is not None else np.arange(net.n_items)
                neg = torch.as_tensor(rng.choice(pool, size=min(cfg.n_negatives, len(pool)), replace=False))
                pos_logit = (hv * table[tv]).sum(-1, keepdim=True)
                if qv is not None:
                    pos_logit = pos_logit + net.content_gain * (qv * net.content[tv]).sum(-1, keepdim=True)
                neg_logit = net.logits(hv, table, qv, neg)
                neg_logit = neg_logit.masked_fill(neg.unsqueeze(0) == tv.unsqueeze(1), float("-inf"))
                loss = F.cross_entropy(torch.cat([pos_logit, neg_logit], 1), torch.zeros(len(tv), dtype=torch.long))
            else:
                logits = net.logits(hv, table, qv)
                if blocked is not None:
                    logits = logits.masked_fill(blocked, float("-inf"))
                loss = F.cross_entropy(logits, tv)
            if cfg.text_loss > 0 and side is not None and net.id_emb is not None:
                text_logits = net.logits(hv, net.text_table(side), qv)  # the same user state must find the target by text
                if blocked is not None:
                    text_logits = text_logits.masked_fill(blocked, float("-inf"))
                loss = loss + cfg.text_loss * F.cross_entropy(text_logits, tv)
            if cfg.align_alpha > 0:
                loss = loss + cfg.align_alpha * _align_loss(net, tv, cfg.align_temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(tv)
            count += len(tv)
        res.epochs_run = epoch
        entry = {"epoch": epoch, "loss": total / max(count, 1), "elapsed_s": round(time.time() - t0, 1)}
        if validate is not None and epoch % cfg.eval_every == 0:
            net.eval()
            score = float(validate(net))
            entry["valid_ndcg10"] = score
            if score > res.best_valid_ndcg10:
                res.best_valid_ndcg10, res.best_epoch, bad = score, epoch, 0
                best_state = copy.deepcopy(net.state_dict())
            else:
                bad += 1
        res.history.append(entry)
        if log:
            log(f"  {entry}")
        if validate is not None and bad >= cfg.patience:
            res.stopped = f"early stop: no valid gain for {cfg.patience} evaluations"
            break
        elapsed = time.time() - t0
        if elapsed + elapsed / epoch > cfg.time_budget_s:  # another epoch would overrun the budget
            res.stopped = f"time budget {cfg.time_budget_s:.0f}s: another epoch would not fit"
            break
    else:
        res.stopped = "max epochs"
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    res.wall_s = time.time() - t0
    return res
