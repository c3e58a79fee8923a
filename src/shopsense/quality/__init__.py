"""shopsense.quality — clean the catalog and the logs without deleting anything.

- `find_duplicates` (exact + MinHash/LSH and/or embedding near-duplicates, star clusters, canonical item)
- `fill_missing` (kNN over embeddings; fills carry confidence + source, never overwrite shop values)
- `find_outliers` (price / rating within category, median/MAD, with reasons)
- `detect_bots` (rules + IsolationForest per user; flagged events as rows for `store.flag_events`)
- `run_checks` / `apply_to_store` / `render_html` / `print_summary` (the `shopsense quality` pipeline)
Heavy dependencies (datasketch, scikit-learn, jinja2, rich) are imported inside the functions.
"""
from shopsense.quality.bots import BotResult, detect_bots
from shopsense.quality.duplicates import DuplicateCluster, find_duplicates
from shopsense.quality.missing import Fill, apply_fills, fill_missing
from shopsense.quality.outliers import Outlier, find_outliers
from shopsense.quality.pipeline import QualityReport, apply_to_store, run_checks
from shopsense.quality.report import print_summary, render_html

__all__ = ["BotResult", "detect_bots", "DuplicateCluster", "find_duplicates", "Fill", "apply_fills", "fill_missing",
           "Outlier", "find_outliers", "QualityReport", "apply_to_store", "run_checks", "print_summary", "render_html"]
