"""Quality report: a terminal summary and a self-contained HTML page with plots.

Plots are small inline SVGs drawn here (histograms and bars): hand-written on purpose so the report
needs no plotting library and opens offline as one file. The page layout is a Jinja2 template file
(`quality/templates/report.html`).
"""
from __future__ import annotations

import html
import math
import time
from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np

from shopsense.quality.pipeline import QualityReport


def svg_hist(values: Sequence[float], title: str, bins: int = 30, log: bool = False,
             marks: Sequence[float] = (), width: int = 420, height: int = 160) -> str:
    """Histogram; `marks` are drawn as red ticks (e.g. flagged outliers)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x) and (x > 0 or not log)], float)
    if len(v) == 0:
        return f"<p><em>{html.escape(title)}: no values</em></p>"
    tr = np.log10 if log else (lambda x: np.asarray(x, float))
    tv = tr(v)
    lo, hi = float(tv.min()), float(tv.max())
    if hi == lo:
        hi = lo + 1
    cnt, edges = np.histogram(tv, bins=bins, range=(lo, hi))
    pad, w, h = 30, width - 40, height - 45
    bw = w / bins
    bars = "".join(f'<rect x="{pad + i * bw:.1f}" y="{20 + h - h * c / cnt.max():.1f}" width="{bw - 1:.1f}" '
                   f'height="{h * c / cnt.max():.1f}" fill="#4c78a8"><title>{c}</title></rect>'
                   for i, c in enumerate(cnt))
    mk = "".join(f'<line x1="{pad + w * (float(tr([m])[0]) - lo) / (hi - lo):.1f}" y1="{20 + h}" '
                 f'x2="{pad + w * (float(tr([m])[0]) - lo) / (hi - lo):.1f}" y2="{20 + h + 8}" stroke="#d62728" '
                 f'stroke-width="2"/>' for m in marks if (m > 0 or not log) and math.isfinite(m))
    fmt = (lambda x: f"{10 ** x:.3g}") if log else (lambda x: f"{x:.3g}")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
            f'<text x="{pad}" y="13" font-size="12">{html.escape(title)} (n={len(v)})</text>{bars}{mk}'
            f'<text x="{pad}" y="{height - 5}" font-size="10">{fmt(lo)}</text>'
            f'<text x="{pad + w}" y="{height - 5}" font-size="10" text-anchor="end">{fmt(hi)}</text></svg>')


def svg_bars(labels: Sequence[str], values: Sequence[float], title: str, width: int = 420) -> str:
    if not labels:
        return f"<p><em>{html.escape(title)}: nothing to show</em></p>"
    vmax = max(max(values), 1e-9)
    rh = 16
    height = 24 + rh * len(labels)
    rows = "".join(f'<text x="0" y="{32 + i * rh}" font-size="11">{html.escape(str(lab))[:28]}</text>'
                   f'<rect x="170" y="{22 + i * rh}" width="{(width - 220) * v / vmax:.1f}" height="{rh - 3}" '
                   f'fill="#f58518"/><text x="{175 + (width - 220) * v / vmax:.1f}" y="{32 + i * rh}" '
                   f'font-size="10">{v:g}</text>' for i, (lab, v) in enumerate(zip(labels, values)))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img">'
            f'<text x="0" y="13" font-size="12">{html.escape(title)}</text>{rows}</svg>')


def summary_lines(rep: QualityReport) -> list[str]:
    c = rep.counts()
    out = [f"catalog: {c['items']} items, {c['events']} events",
           f"duplicates: {c['duplicate_clusters']} clusters covering {c['items_in_duplicate_clusters']} items "
           f"(proposals; merge with `shopsense quality merge`)",
           f"missing values: {c['fills_proposed']} fills proposed (kept beside shop values)",
           f"outliers: {c['outliers']} price/rating values flagged",
           f"bots: {c['users_flagged']} users flagged, {c['events_flagged']} events excluded from training (kept)"]
    out += [f"skipped {k}: {v}" for k, v in rep.skipped.items()]
    return out


def print_summary(rep: QualityReport, console=None) -> None:
    from rich.console import Console
    from rich.table import Table
    console = console or Console()
    t = Table(title="shopsense quality", show_header=False)
    for line in summary_lines(rep):
        k, _, v = line.partition(": ")
        t.add_row(k, v)
    console.print(t)
    for o in rep.outliers[:5]:
        console.print(f"  outlier {o.item_id}: {o.reason}")
    for cl in rep.clusters[:5]:
        console.print(f"  duplicates of {cl.canonical_id}: {', '.join(cl.duplicate_ids[:6])}")


def render_html(rep: QualityReport, path: Path, items_by_id: dict | None = None, title: str = "Catalog quality") -> Path:
    import jinja2
    items_by_id = items_by_id or {}
    tpl = jinja2.Template(resources.files("shopsense.quality").joinpath("templates", "report.html").read_text(),
                          autoescape=True)
    flagged_price = {o.item_id: o.value for o in rep.outliers if o.field == "price"}
    price_plots = [svg_hist(v, f"price — {cat}", log=True,
                            marks=[flagged_price[i] for i in flagged_price if _cat(items_by_id.get(i)) == cat])
                   for cat, v in sorted(rep.prices.items(), key=lambda kv: -len(kv[1]))[:6]]
    plots = {"prices": price_plots,
             "ratings": svg_hist(rep.ratings, "item rating", bins=20,
                                 marks=[o.value for o in rep.outliers if o.field == "rating"]),
             "bot_scores": svg_hist(rep.bots.score.tolist(), "bot score per user (0..1)", bins=20)
             if rep.bots is not None else "",
             "dup_sizes": svg_bars([c.canonical_id for c in rep.clusters[:15]],
                                   [len(c.member_ids) for c in rep.clusters[:15]], "largest duplicate clusters"),
             "fills": svg_bars(*_fill_bars(rep), "fills proposed by field")}
    bots = []
    if rep.bots is not None:
        b = rep.bots
        for x in np.argsort(-b.score)[:30]:
            bots.append({"user": b.user_ids[x], "score": round(float(b.score[x]), 3), "flagged": bool(b.flagged[x]),
                         "n": int(b.features["n_events"][x]), "why": "; ".join(b.rules[x])})
    clusters = [{"canonical": c.canonical_id, "members": [(m, getattr(items_by_id.get(m), "title", ""))
                                                           for m in c.member_ids[:8]],
                 "methods": sorted({p[3] for p in c.pairs})} for c in rep.clusters[:50]]
    page = tpl.render(title=title, generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                      summary=summary_lines(rep), counts=rep.counts(), plots=plots, outliers=rep.outliers[:200],
                      clusters=clusters, fills=rep.fills[:200], bots=bots, audit=rep.audit, seconds=rep.seconds)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def _cat(item) -> str:
    return item.category[0] if item is not None and item.category else "(none)"


def _fill_bars(rep: QualityReport) -> tuple[list[str], list[float]]:
    c: dict[str, int] = {}
    for f in rep.fills:
        c[f.field] = c.get(f.field, 0) + 1
    return list(c), list(c.values())
