"""Language-model augmentation of the catalog: synthetic search queries and enriched descriptions.

No small generative model loads here without compiling llama.cpp (see shared/MODELS.md), so this is
the fallback the design allows: the MiniLM encoder + the catalog's own vocabulary.
- keyphrases from the title (product type = head noun phrase; distinctive modifiers by idf),
- category-aware templates read from ``text/prompts/synthetic_queries.txt`` (data, not code),
- ``{neighbor}``: terms the item's nearest catalog neighbours (encoder space) share but its title lacks,
- ``{related}``: catalog vocabulary terms nearest to the item vector (encoder space).
Augmented text is returned as a separate mapping (item_id -> queries / text) and is meant to be
indexed in its own field (e.g. ``attributes["synthetic_queries"]``) so it can be switched off.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Sequence

import numpy as np
from pydantic import Field

from shopsense.config import ComponentConfig
from shopsense.errors import ConfigError, DataError
from shopsense.types import Item

_WORD = re.compile(r"[A-Za-z][A-Za-z'\-]*[A-Za-z]|[A-Za-z]")
_CUT = re.compile(r"\(|\)|,| - | in | with | for | by | / ", re.IGNORECASE)
STOP = frozenset("""a an and the of for in on with by to from at or per x pc pcs pack set ft in. inch
 includes included not only new one two each""".split())


class AugmentConfig(ComponentConfig):
    templates: str = Field("synthetic_queries", description="prompt file under text/prompts (no .txt)")
    max_queries: int = Field(8, ge=1, le=50)
    k_neighbors: int = Field(10, ge=1, le=100, description="catalog neighbours mined for {neighbor} terms")
    neighbor_terms: int = Field(3, ge=0, le=20)
    min_neighbor_count: int = Field(2, ge=1, description="a term must appear in this many neighbours")
    related_terms: int = Field(2, ge=0, le=20, description="encoder-nearest vocabulary terms ({related})")
    min_df: int = Field(3, ge=1, description="vocabulary terms must occur in this many titles")
    thin_words: int = Field(8, ge=1, description="items with fewer words of text get an enriched description")


def prompt_text(name: str) -> str:
    """The text of a prompt/template/lexicon file shipped in shopsense/text/prompts/."""
    try:
        return resources.files("shopsense.text").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"prompt file {name}.txt not found in shopsense/text/prompts — check the name") from None


def _lines(name: str) -> list[str]:
    return [ln.strip() for ln in prompt_text(name).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def load_templates(name: str = "synthetic_queries") -> dict[tuple[str, ...], list[str]]:
    """Sections of a template file: () for [default], (words...) for [category: words]."""
    out: dict[tuple[str, ...], list[str]] = {}
    key: tuple[str, ...] = ()
    for ln in _lines(name):
        m = re.fullmatch(r"\[(default|category:(.*))\]", ln)
        if m:
            key = () if m.group(1) == "default" else tuple(w.strip().lower() for w in m.group(2).split(",") if w.strip())
            out.setdefault(key, [])
        elif ln.startswith("["):
            raise ConfigError(f"bad section line {ln!r} in {name}.txt — use [default] or [category: a, b]")
        else:
            out.setdefault(key, []).append(ln)
    return out


@lru_cache(maxsize=8)
def lexicon(name: str) -> frozenset[str]:
    return frozenset(w.lower() for w in _lines(name))


def words(text: str) -> list[str]:
    return [w.lower().strip("-'") for w in _WORD.findall(text)]


def product_type(title: str, max_words: int = 2) -> list[str]:
    """Head noun phrase: the last alphabetic words of the title before the first 'in/with/for/(,'."""
    head = _CUT.split(title, maxsplit=1)[0]
    units = lexicon("lexicon_units")
    toks = [w for w in words(head) if w not in STOP and len(w) > 1]
    while len(toks) > 1 and toks[-1] in units:  # "... Sanding Roll 80 Grit" -> "sanding roll"
        toks.pop()
    return toks[-max_words:]


@dataclass
class Augmented:
    queries: dict[str, list[str]] = field(default_factory=dict)
    descriptions: dict[str, str] = field(default_factory=dict)
    source: str = "encoder+catalog-vocabulary templates"

    def field_text(self, item_id: str) -> str:
        """The text of the separate `synthetic_queries` field of one item."""
        return " ; ".join(self.queries.get(item_id, []))


class CatalogAugmenter:
    """Doc2query-style synthetic queries from the encoder and the catalog vocabulary."""

    def __init__(self, config: AugmentConfig | None = None, encoder=None) -> None:
        self.config = config or AugmentConfig()
        self.encoder = encoder
        self.templates = load_templates(self.config.templates)
        self.colors, self.materials = lexicon("lexicon_colors"), lexicon("lexicon_materials")

    def augment(self, items: Sequence[Item], embeddings: np.ndarray | None = None, *,
                vocab_embeddings: tuple[list[str], np.ndarray] | None = None, progress: bool = False) -> Augmented:
        """`embeddings`: L2-normalised item vectors (rows align with items); computed with the encoder
        when None. `vocab_embeddings`: (terms, vectors) to reuse a cached vocabulary encoding."""
        cfg = self.config
        if not items:
            raise DataError("no items to augment", hint="ingest a catalog first")
        toks = [words(it.title) for it in items]
        df = Counter(w for t in toks for w in set(t))
        n = len(items)
        idf = {w: math.log(n / c) for w, c in df.items()}
        need_vec = cfg.neighbor_terms > 0 or cfg.related_terms > 0
        if need_vec and embeddings is None:
            if self.encoder is None:
                raise ConfigError("neighbour/related terms need an encoder or embeddings — pass encoder= / "
                                  "embeddings=, or set neighbor_terms = related_terms = 0")
            embeddings = self.encoder.encode([it.title for it in items], progress=progress)
        neigh = self._neighbor_terms(toks, embeddings, idf, df, progress) if cfg.neighbor_terms else [[] for _ in items]
        related = self._related_terms(toks, embeddings, df, vocab_embeddings) if cfg.related_terms else [[] for _ in items]
        out = Augmented()
        for i, it in enumerate(items):
            q = self._queries(it, toks[i], idf, neigh[i], related[i])
            out.queries[it.item_id] = q
            text_words = len(words(it.title + " " + it.description))
            if text_words < cfg.thin_words:
                out.descriptions[it.item_id] = self._describe(it, toks[i], neigh[i] + related[i])
        return out

    def _slots(self, it: Item, tk: list[str], idf: dict[str, float], neigh: list[str], related: list[str]) -> dict:
        ptype = product_type(it.title)
        brand = it.brand.lower() if it.brand else (tk[0] if len(tk) >= 3 and it.title[:1].isupper() else "")
        mods = sorted({w for w in tk if w not in STOP and w not in ptype and w != brand and len(w) > 2},
                      key=lambda w: -idf.get(w, 0.0))
        return {"type": " ".join(ptype), "type1": ptype[-1] if ptype else "", "brand": brand,
                "modifier": mods[:2], "color": [w for w in tk if w in self.colors][:1],
                "material": [w for w in tk if w in self.materials][:1], "neighbor": neigh, "related": related,
                "category": it.category[-1].lower() if it.category else ""}

    def _queries(self, it: Item, tk: list[str], idf, neigh, related) -> list[str]:
        s = self._slots(it, tk, idf, neigh, related)
        hay = " ".join(it.category).lower() + " " + s["type"]
        tpls = list(self.templates.get((), []))
        for key, lines in self.templates.items():
            if key and any(w in hay for w in key):
                tpls += lines
        out: list[str] = []
        for tpl in tpls:
            for q in _fill(tpl, s):
                qw = q.split()
                q = " ".join(qw)
                if q and q not in out and len(set(qw)) == len(qw):
                    out.append(q)
        return out[: self.config.max_queries]

    def _describe(self, it: Item, tk: list[str], related: list[str]) -> str:
        s = self._slots(it, tk, {}, [], [])
        tpl = _lines("enrich_description")[0]
        vals = {**{k: (v[0] if isinstance(v, list) and v else v or "") for k, v in s.items()},
                "title": it.title, "category_phrase": f" in {it.category[-1]}" if it.category else "",
                "related_list": ", ".join(dict.fromkeys(related)) or s["type"]}
        vals["brand"] = vals["brand"] or "an unnamed brand"
        vals["type"] = vals["type"] or "product"
        return tpl.format(**vals)

    def _neighbor_terms(self, toks, emb, idf, df, progress) -> list[list[str]]:
        from sklearn.neighbors import NearestNeighbors
        from tqdm import tqdm
        cfg = self.config
        k = min(cfg.k_neighbors + 1, len(toks))
        _, idx = NearestNeighbors(n_neighbors=k, metric="cosine").fit(emb).kneighbors(emb)
        out = []
        for i in tqdm(range(len(toks)), desc="neighbour terms", disable=not progress):
            own = set(toks[i])
            c = Counter(w for j in idx[i] if j != i for w in set(toks[j])
                        if w not in own and w not in STOP and len(w) > 2 and df[w] >= cfg.min_df)
            cand = [(cnt * idf[w], w) for w, cnt in c.items() if cnt >= cfg.min_neighbor_count]
            out.append([w for _, w in sorted(cand, reverse=True)[:cfg.neighbor_terms]])
        return out

    def _related_terms(self, toks, emb, df, vocab_embeddings) -> list[list[str]]:
        cfg = self.config
        if vocab_embeddings is None:
            if self.encoder is None:
                raise ConfigError("related terms need an encoder — pass encoder= or set related_terms = 0")
            terms = sorted(w for w, c in df.items() if c >= cfg.min_df and w not in STOP and len(w) > 2)
            vecs = self.encoder.encode(terms)
        else:
            terms, vecs = vocab_embeddings
        out = []
        for s in range(0, len(toks), 4096):
            sims = emb[s:s + 4096] @ np.asarray(vecs).T
            top = np.argpartition(-sims, min(20, sims.shape[1] - 1), axis=1)[:, :20]
            for r, row in enumerate(top):
                own = set(toks[s + r])
                best = sorted(row, key=lambda j: -sims[r, j])
                out.append([terms[j] for j in best if terms[j] not in own][:cfg.related_terms])
        return out


def catalog_vocabulary(items: Sequence[Item], min_df: int = 3) -> list[str]:
    """The terms `{related}` draws from (cache their encodings with this list)."""
    df = Counter(w for it in items for w in set(words(it.title)))
    return sorted(w for w, c in df.items() if c >= min_df and w not in STOP and len(w) > 2)


def _fill(tpl: str, slots: dict) -> list[str]:
    """Every filling of a template; list-valued slots expand to one query per value."""
    names = re.findall(r"{(\w+)}", tpl)
    res = [tpl]
    for nm in names:
        if nm not in slots:
            raise ConfigError(f"unknown slot {{{nm}}} in template {tpl!r} — see the slot list in synthetic_queries.txt")
        v = slots[nm]
        vals = v if isinstance(v, list) else [v]
        vals = [x for x in vals if x]
        if not vals:
            return []
        res = [r.replace("{" + nm + "}", x, 1) for r in res for x in vals]
    return res
