"""Run every quality check (pure: no store), then record the results in a store.

`run_checks` returns a `QualityReport`; `apply_to_store` writes flags, fills and one audit entry per
step. Neither deletes or rewrites a row: events are flagged (kept), fills sit beside the shop's
values, outliers and duplicate clusters are reported; merging is the separate, explicit
`shopsense quality merge` step (reversible through `store.unmerge`).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from shopsense.errors import DataError
from shopsense.quality.bots import BotResult, detect_bots
from shopsense.quality.config import QualityConfig
from shopsense.quality.duplicates import DuplicateCluster, find_duplicates
from shopsense.quality.missing import Fill, fill_missing
from shopsense.quality.outliers import Outlier, find_outliers
from shopsense.text.itemtext import item_text
from shopsense.types import Dataset, Item

STEPS = ("duplicates", "missing", "outliers", "bots")
BOT_DETECTORS = ("bots.rules", "bots.iforest")


@dataclass
class QualityReport:
    n_items: int
    n_events: int
    clusters: list[DuplicateCluster] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    outliers: list[Outlier] = field(default_factory=list)
    bots: BotResult | None = None
    prices: dict[str, list[float]] = field(default_factory=dict)  # top-level category -> prices
    ratings: list[float] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # step -> why
    audit: list[dict[str, Any]] = field(default_factory=list)  # actions applied to a store

    def counts(self) -> dict[str, int]:
        b = self.bots
        return {"items": self.n_items, "events": self.n_events, "duplicate_clusters": len(self.clusters),
                "items_in_duplicate_clusters": sum(len(c.member_ids) for c in self.clusters),
                "fills_proposed": len(self.fills), "outliers": len(self.outliers),
                "users_flagged": int(b.flagged.sum()) if b else 0, "events_flagged": len(b.event_flags) if b else 0}

    def duplicates_json(self) -> str:
        return json.dumps({"created": time.time(), "clusters": [c.to_dict() for c in self.clusters]}, indent=1)


def run_checks(items: Sequence[Item], dataset: Dataset | None = None, config: QualityConfig | None = None, *,
               encoder=None, steps: Sequence[str] = STEPS, progress: bool = False) -> QualityReport:
    """All quality checks over a catalog (and its events when `dataset` is given). `encoder` is
    needed for missing-value fills and embedding duplicates; without one those parts are skipped
    and the report says so."""
    cfg = config or QualityConfig()
    bad = set(steps) - set(STEPS)
    if bad:
        raise DataError(f"unknown quality steps {sorted(bad)}", hint=f"choose from {', '.join(STEPS)}")
    items = list(items)
    rep = QualityReport(len(items), len(dataset.events) if dataset is not None else 0)
    for it in items:
        if it.price is not None and it.price > 0:
            rep.prices.setdefault(it.category[0] if it.category else "(none)", []).append(float(it.price))
        if it.rating is not None:
            rep.ratings.append(float(it.rating))
    emb = None
    need_emb = ("missing" in steps) or ("duplicates" in steps and cfg.duplicates.method != "minhash")
    if need_emb and encoder is not None and items:
        t = time.time()
        # title + description only: the fields being predicted must not leak into the vectors
        emb = encoder.encode([item_text(it, ("title", "description")) for it in items], progress=progress)
        rep.seconds["embed"] = time.time() - t

    def timed(step, fn):
        t = time.time()
        out = fn()
        rep.seconds[step] = round(time.time() - t, 3)
        return out

    if "duplicates" in steps and items:
        dcfg = cfg.duplicates
        if dcfg.method != "minhash" and emb is None:
            dcfg = dcfg.model_copy(update={"method": "minhash"})
            rep.skipped["duplicates.embedding"] = "no encoder: used MinHash only"
        rep.clusters = timed("duplicates", lambda: find_duplicates(items, dcfg, embeddings=emb, progress=progress))
    if "missing" in steps:
        if emb is None:
            rep.skipped["missing"] = "no encoder given"
        else:
            rep.fills = timed("missing", lambda: fill_missing(items, emb, cfg.missing))
    if "outliers" in steps:
        rep.outliers = timed("outliers", lambda: find_outliers(items, cfg.outliers))
    if "bots" in steps:
        if dataset is None or len(dataset.events) == 0:
            rep.skipped["bots"] = "no events"
        else:
            rep.bots = timed("bots", lambda: detect_bots(dataset, cfg.bots))
    return rep


def apply_to_store(store, report: QualityReport, dataset: Dataset | None, report_dir: Path | None = None) -> dict:
    """Record the report in the store: bot flags (replacing this detector's earlier flags, which are
    derived data), fills, and one audit entry per step. Returns {table: count} before and after, which
    must be equal — nothing is deleted."""
    tables = ("items", "events")
    before = {t: store.count(t) for t in tables}
    if report.bots is not None and dataset is not None:
        rows = report.bots.store_rows(dataset)
        cleared = sum(store.clear_flags(d) for d in BOT_DETECTORS)
        n = store.flag_events(rows)
        _audit(store, report, "quality.bots", "events",
               {"events_flagged": n, "previous_flags_replaced": cleared, "users_flagged": report.bots.flagged_users[:200],
                "n_users_flagged": int(report.bots.flagged.sum())})
    if report.fills:
        n = store.record_fills([f.row() for f in report.fills])
        _audit(store, report, "quality.fills", "items",
               {"fills": n, "by_field": _count(f.field for f in report.fills)})
    if "outliers" not in report.skipped:
        _audit(store, report, "quality.outliers", "items",
               {"n": len(report.outliers), "outliers": [o.to_dict() for o in report.outliers[:500]]})
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
        (report_dir / "duplicates.json").write_text(report.duplicates_json())
    _audit(store, report, "quality.duplicates", "items",
           {"clusters": len(report.clusters), "proposal_file": str(report_dir / "duplicates.json") if report_dir else None,
            "note": "proposals only; merge with `shopsense quality merge`"})
    after = {t: store.count(t) for t in tables}
    if before != after:  # pragma: no cover - would be a bug in the store
        raise DataError(f"row counts changed during quality checks: {before} -> {after}")
    return {"before": before, "after": after}


def _audit(store, report: QualityReport, action: str, target: str, detail: dict) -> None:
    store.add_audit(action, target, detail)
    report.audit.append({"action": action, "target": target, **{k: v for k, v in detail.items()
                                                                  if not isinstance(v, list)}})


def _count(xs) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in xs:
        out[x] = out.get(x, 0) + 1
    return out


def bot_score_hist(report: QualityReport, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    s = report.bots.score if report.bots is not None else np.zeros(0)
    return np.histogram(s, bins=bins, range=(0, 1))
