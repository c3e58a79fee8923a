"""Adapters that turn the real public datasets in ``../shared/data`` into shopsense's data model.

- Amazon 2018 "Industrial & Scientific" with item text (UniSRec format)  -> `load_amazon_text`
- Amazon 2014 Beauty / Sports sequences with attribute ids (S3-Rec files) -> `load_amazon_seq`
- Home Depot product search relevance (titles + graded judgments)         -> `load_homedepot`

None of these files ship timestamps; where events need one, times are synthesised from the order
(one day apart per user), which keeps the order and nothing else. Tests and benchmarks skip when the
shared folder is absent (`shared_data_dir()` returns None).
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shopsense.types import EVENT_CODES, Dataset, Events, Item, Vocabulary

_DAY = 86_400.0
_T0 = 1_500_000_000.0  # 2017-07-14, arbitrary origin of the synthesised clocks


def shared_data_dir() -> Path | None:
    """``$SHOPSENSE_SHARED_DATA`` or ``<repo>/../shared/data``; None when absent."""
    env = os.environ.get("SHOPSENSE_SHARED_DATA")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "data" for p in here.parents[3:5]]  # repo/.. (src layout)
    candidates.append(Path.cwd().parent / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


def _require(root: Path | None, sub: str) -> Path:
    root = root or shared_data_dir()
    if root is None or not (root / sub).exists():
        raise FileNotFoundError(f"{sub} not found under {root} — set SHOPSENSE_SHARED_DATA to the shared/data folder")
    return root / sub


@dataclass
class SequenceData:
    """Leave-one-out sequential data: `dataset` holds every interaction; `train_seqs[u]` excludes the
    last two items, `valid_target[u]` is the second-to-last, `test_target[u]` the last (item rows)."""

    dataset: Dataset
    sequences: list[np.ndarray]  # full per-user item-row sequences, time ordered

    def split(self) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
        train = [s[:-2] for s in self.sequences]
        valid = np.array([s[-2] for s in self.sequences], dtype=np.int64)
        test = np.array([s[-1] for s in self.sequences], dtype=np.int64)
        return train, valid, test


def _sequences_to_dataset(items: list[Item], seqs: list[list[int]], user_ids: list[str], name: str) -> Dataset:
    lens = np.array([len(s) for s in seqs])
    user = np.repeat(np.arange(len(seqs), dtype=np.int64), lens)
    item = np.concatenate([np.asarray(s, np.int64) for s in seqs]) if seqs else np.zeros(0, np.int64)
    pos = np.concatenate([np.arange(n) for n in lens]) if seqs else np.zeros(0)
    ts = _T0 + pos * _DAY + user.astype(np.float64)  # ordered within a user, distinct across users
    ev = Events(user, item, np.full(len(user), EVENT_CODES["purchase"], np.int8),
                np.full(len(user), np.nan, np.float32), ts, np.full(len(user), -1, np.int64), [])
    return Dataset(items, ev, Vocabulary(i.item_id for i in items), Vocabulary(user_ids), name=name)


def load_amazon_seq(name: str = "Beauty", root: Path | None = None) -> SequenceData:
    """S3-Rec files: ``<name>.txt`` (user item item ...; ids from 1) and ``<name>_item2attributes.json``.
    Item text is the attribute-id tokens (the files carry no titles)."""
    base = _require(root, "amazon-seq")
    seqs_raw: list[list[int]] = []
    users: list[str] = []
    max_item = 0
    with open(base / f"{name}.txt") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 2:
                continue
            users.append(parts[0])
            s = [int(x) for x in parts[1:]]
            max_item = max(max_item, max(s))
            seqs_raw.append(s)
    attrs = json.loads((base / f"{name}_item2attributes.json").read_text())
    items = []
    for i in range(1, max_item + 1):
        a = attrs.get(str(i), [])
        items.append(Item(item_id=str(i), title=" ".join(f"attr{x}" for x in a) or f"item {i}",
                          attributes={"attribute_ids": a}))
    seqs = [[x - 1 for x in s] for s in seqs_raw]  # item id k -> row k-1
    ds = _sequences_to_dataset(items, seqs, users, name)
    return SequenceData(ds, [np.asarray(s, np.int64) for s in seqs])


def parse_amazon_text_line(text: str) -> tuple[str, str, str]:
    """UniSRec text is ``"{title}. {categories}. {brand}. "``; split from the right so dots inside
    titles survive. Returns (title, categories, brand)."""
    t = text.strip()
    if t.endswith("."):
        t = t[:-1]
    parts = t.rsplit(". ", 2)
    while len(parts) < 3:
        parts.append("")
    return parts[0].strip(), parts[1].strip(), parts[2].strip()


def load_amazon_text(root: Path | None = None, name: str = "Scientific") -> SequenceData:
    """Amazon 2018 Industrial & Scientific with real titles, categories and brands.
    Item rows follow ``.item2index``; full sequences are the test histories plus their targets."""
    base = _require(root, "amazon-text")
    texts: dict[str, str] = {}
    with open(base / f"{name}.text", encoding="utf-8") as f:
        next(f)
        for line in f:
            asin, _, text = line.rstrip("\n").partition("\t")
            texts[asin] = text
    asins = [ln.split("\t")[0] for ln in (base / f"{name}.item2index").read_text().splitlines() if ln]
    items = []
    for asin in asins:
        title, cats, brand = parse_amazon_text_line(texts.get(asin, ""))
        items.append(Item(item_id=asin, title=title or asin, category=[cats] if cats else [], brand=brand))
    user_ids = [ln.split("\t")[0] for ln in (base / f"{name}.user2index").read_text().splitlines() if ln]
    seqs: list[list[int]] = [[] for _ in user_ids]
    with open(base / f"{name}.test.inter") as f:
        next(f)
        for line in f:
            u, hist, target = line.rstrip("\n").split("\t")
            seqs[int(u)] = [int(x) for x in hist.split()] + [int(target)]
    keep = [i for i, s in enumerate(seqs) if len(s) >= 3]
    seqs = [seqs[i] for i in keep]
    ds = _sequences_to_dataset(items, seqs, [user_ids[i] for i in keep], name)
    return SequenceData(ds, [np.asarray(s, np.int64) for s in seqs])


@dataclass
class SearchJudgments:
    """Product search relevance: the catalog and graded qrels per split.
    `qrels[split][query_id] = {product_uid: relevance}`; `queries[split][query_id] = text`."""

    items: list[Item]
    queries: dict[str, dict[str, str]]
    qrels: dict[str, dict[str, dict[str, float]]]


def load_homedepot(root: Path | None = None) -> SearchJudgments:
    base = _require(root, "search/homedepot")
    items = []
    with open(base / "products.csv", encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            items.append(Item(item_id=row["product_uid"], title=row["product_title"]))
    queries: dict[str, dict[str, str]] = {}
    qrels: dict[str, dict[str, dict[str, float]]] = {}
    for split in ("train", "test"):
        q: dict[str, str] = {}
        r: dict[str, dict[str, float]] = {}
        with open(base / f"qrels_{split}.tsv", encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f, delimiter="\t"):
                q[row["query_id"]] = row["query"]
                r.setdefault(row["query_id"], {})[row["product_uid"]] = float(row["relevance"])
        queries[split], qrels[split] = q, r
    return SearchJudgments(items, queries, qrels)
