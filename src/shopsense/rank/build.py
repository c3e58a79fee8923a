"""Build a `ServingEngine` from a Dataset (fit every source), and save / load it as a folder
(recommenders: npy + JSON via their own persistence; search index: its own folder; ranker: LightGBM
text model + JSON). `<data_dir>/serving/CURRENT` names the live folder; it is replaced atomically."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any

from shopsense.rank.engine import ServingEngine
from shopsense.rank.ranker import LGBMRanker
from shopsense.rank.sources import Sources
from shopsense.types import Dataset

log = logging.getLogger(__name__)
SOURCES = ("trending", "cf", "similar", "bought_together")


def fit_sources(settings: Any, dataset: Dataset, encoder=None, only: tuple[str, ...] = SOURCES) -> dict[str, Any]:
    """Fit the recommendation sources; one that fails to fit is left out (logged), never fatal."""
    from shopsense.recommend.personal import CFRecommender
    from shopsense.recommend.similar import BoughtTogetherRecommender, SimilarItemsRecommender
    from shopsense.recommend.trending import TrendingRecommender

    rc = settings.recommend
    makers = {"trending": lambda: TrendingRecommender(rc.trending),
              "cf": lambda: CFRecommender(rc.cf),
              "similar": lambda: SimilarItemsRecommender(rc.similar, encoder=encoder, text_config=settings.text),
              "bought_together": lambda: BoughtTogetherRecommender()}
    models: dict[str, Any] = {}
    for name in only:
        t = time.perf_counter()
        try:
            models[name] = makers[name]().fit(dataset)
            log.info("fitted %s in %.1fs", name, time.perf_counter() - t)
        except Exception as e:  # noqa: BLE001 - a source that cannot be fitted is skipped
            log.warning("could not fit source %s: %s", name, e)
    return models


def popularity(dataset: Dataset) -> dict[str, float]:
    import numpy as np

    ev = dataset.events
    m = ev.item >= 0
    counts = np.bincount(ev.item[m], minlength=dataset.n_items)
    ids = dataset.item_vocab.ids
    return {ids[i]: float(c) for i, c in enumerate(counts) if c}


def build_engine(settings: Any, dataset: Dataset, *, search: Any = None, with_search: bool = True,
                 train_ranker: bool = True, progress: bool = False) -> ServingEngine:
    """Fit every source on `dataset`, build (or take) the search index, train the ranker from the
    logged events when there are enough, and return the engine."""
    info: dict[str, Any] = {}
    t0 = time.perf_counter()
    if search is None and with_search:
        try:
            from shopsense.search.engine import SearchEngine

            search = SearchEngine.build(dataset.items, text=settings.text, index=settings.index,
                                        search=settings.search, cache_dir=settings.path("embeddings"),
                                        progress=progress)
        except Exception as e:  # noqa: BLE001 - search falls back to a title match
            log.warning("search index could not be built: %s", e)
    if search is not None:  # searches that led to clicks / carts / purchases: category intent of those queries
        info["query_logs"] = search.learn_query_logs(dataset)
    info["search_s"] = round(time.perf_counter() - t0, 2)
    encoder = _cached_encoder(search, settings)
    t1 = time.perf_counter()
    models = fit_sources(settings, dataset, encoder)
    info["sources_s"] = round(time.perf_counter() - t1, 2)
    items = {it.item_id: it for it in dataset.items}
    eng = ServingEngine(items, Sources(models, search, items), settings.rank, popularity(dataset))
    if settings.rank.cf_table and "cf" in models:
        from shopsense.rank.cftable import CFTable

        t3 = time.perf_counter()
        eng.sources.cf_table = CFTable.compute(models["cf"], settings.rank.n_candidates, progress=progress)
        info["cf_table_s"] = round(time.perf_counter() - t3, 2)
    if train_ranker and settings.rank.ranker != "rules":
        from shopsense.rank.train import train_ranker as _train

        t2 = time.perf_counter()
        try:
            ranker, report = _train(settings, dataset, encoder, search)
            better = report.get("ndcg10_lgbm", -1.0) >= report.get("ndcg10_rules", 0.0)
            if ranker is not None and (settings.rank.ranker == "lgbm" or better):
                eng.learned = ranker
            report["serving"] = eng.ranker.name
            info["ranker"] = report
        except Exception as e:  # noqa: BLE001 - the rule-based ranker stays
            log.warning("ranker training failed, keeping the rule-based ranker: %s", e)
            info["ranker"] = {"error": str(e)}
        info["ranker_s"] = round(time.perf_counter() - t2, 2)
    info["sources"] = sorted(models) + (["search"] if search is not None else [])
    eng.info = info
    return eng


def _cached_encoder(search: Any, settings: Any):
    enc = getattr(search, "encoder", None) if search is not None else None
    if enc is None:
        from shopsense.text.encoder import get_encoder

        enc = get_encoder(settings.text)
    try:
        from shopsense.text.cache import CachedEncoder

        return CachedEncoder(enc, settings.path("embeddings") / enc.name.replace("/", "_"))
    except Exception:  # noqa: BLE001
        return enc


# -- persistence ---------------------------------------------------------------------------------
def save_engine(eng: ServingEngine, root: str | Path) -> Path:
    """Write into a new version folder under `root`, then point CURRENT at it (atomic rename)."""
    root = Path(root)
    folder = root / eng.version
    folder.mkdir(parents=True, exist_ok=True)
    for name, m in eng.sources.models.items():
        m.save(folder / name)
    if eng.sources.search_engine is not None:
        eng.sources.search_engine.save(folder / "search")
    if eng.learned is not None:
        eng.learned.save(folder / "ranker")
    if eng.sources.cf_table is not None:
        eng.sources.cf_table.save(folder / "cf_table")
    (folder / "popularity.json").write_text(json.dumps(eng.popularity))
    (folder / "engine.json").write_text(json.dumps({"version": eng.version, "built_at": eng.built_at,
                                                    "info": eng.info}, indent=1, default=str))
    tmp = root / "CURRENT.tmp"
    tmp.write_text(eng.version)
    os.replace(tmp, root / "CURRENT")
    return folder


def current_folder(root: str | Path) -> Path | None:
    p = Path(root) / "CURRENT"
    if not p.exists():
        return None
    f = Path(root) / p.read_text().strip()
    return f if (f / "engine.json").exists() else None


def load_engine(settings: Any, folder: str | Path, items: dict | None = None) -> ServingEngine:
    from shopsense.recommend.persist import load_recommender

    folder = Path(folder)
    meta = json.loads((folder / "engine.json").read_text())
    models = {}
    for name in SOURCES:
        if (folder / name / "model.json").exists():
            models[name] = load_recommender(folder / name)
    search = None
    if (folder / "search" / "engine.json").exists():
        from shopsense.search.engine import SearchEngine

        search = SearchEngine.load(folder / "search", cache_dir=settings.path("embeddings"), search=settings.search)
    if items is None:
        from shopsense.store import open_store

        store = open_store(settings.resolved_store_url())
        try:
            items = {it.item_id: it for it in store.iter_items()}
        finally:
            store.close()
    learned = LGBMRanker.load(folder / "ranker") if (folder / "ranker" / "ranker.json").exists() else None
    pop = json.loads((folder / "popularity.json").read_text())
    eng = ServingEngine(items, Sources(models, search, items), settings.rank, pop, learned, meta["version"])
    if settings.rank.cf_table and "cf" in models:
        from shopsense.rank.cftable import CFTable

        table = CFTable.load(folder / "cf_table")
        if table is None or table.k < settings.rank.n_candidates:  # a folder saved before the table existed
            table = CFTable.compute(models["cf"], settings.rank.n_candidates)
            tmp = folder / f"cf_table.tmp{os.getpid()}"
            try:  # written aside and renamed: another server process may be doing the same
                table.save(tmp)
                os.rename(tmp, folder / "cf_table")
            except OSError as e:  # already there (the other process won), or a read-only folder
                log.info("CF table not saved in %s: %s", folder, e)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        eng.sources.cf_table = table
    eng.built_at, eng.info = meta["built_at"], meta.get("info", {})
    return eng
