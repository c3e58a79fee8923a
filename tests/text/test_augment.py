"""Synthetic queries and enriched descriptions from the encoder + catalog vocabulary."""
from __future__ import annotations

import pytest

from shopsense.errors import ConfigError, DataError
from shopsense.text.augment import (AugmentConfig, CatalogAugmenter, catalog_vocabulary, load_templates,
                                    product_type, prompt_text)
from shopsense.text.encoder import HashingEncoder
from shopsense.types import Item

TITLES = ["Delta Vero Shower Faucet Trim in Chrome", "Moen Shower Faucet in Brushed Nickel",
          "Delta Linden Shower Faucet in Chrome", "Pfister Shower Faucet Valve in Bronze",
          "BEHR Premium Wood Stain 1 gal.", "BEHR Deck Wood Stain in Cedar 1 gal.",
          "Olympic Wood Stain Semi-Transparent 1 gal.", "Makita 18V Cordless Drill"]


def _items():
    return [Item(item_id=str(i), title=t) for i, t in enumerate(TITLES)]


def test_templates_are_data_files():
    t = load_templates()
    assert "{type}" in t[()] and any("paint" in k for k in t if k)
    assert "{title}" in prompt_text("enrich_description")
    with pytest.raises(ConfigError):
        prompt_text("no_such_prompt")


def test_product_type_head_noun():
    assert product_type("Delta Vero 1-Handle Shower Only Faucet Trim Kit in Chrome (Valve Not Included)") == \
        ["trim", "kit"]
    assert product_type("BEHR Premium Wood Stain 1 gal.") == ["wood", "stain"]


def test_synthetic_queries_in_own_field_with_neighbour_terms():
    items = _items()
    aug = CatalogAugmenter(AugmentConfig(min_df=2, related_terms=1, k_neighbors=3), encoder=HashingEncoder())
    out = aug.augment(items)
    q0 = out.queries["0"]
    assert "shower faucet" in q0 or "faucet trim" in q0
    assert len(q0) <= AugmentConfig().max_queries and len(set(q0)) == len(q0)
    assert all(len(set(q.split())) == len(q.split()) for qs in out.queries.values() for q in qs)
    assert out.field_text("0") == " ; ".join(q0)
    assert items[0].attributes == {}  # the catalog is not modified
    vocab = catalog_vocabulary(items, 2)
    assert "stain" in vocab and "makita" not in vocab
    # items with thin text get an enriched description built from the template file
    assert out.descriptions["7"].startswith("Makita 18V Cordless Drill. A cordless drill")


def test_augment_errors():
    with pytest.raises(DataError):
        CatalogAugmenter(AugmentConfig()).augment([])
    with pytest.raises(ConfigError):
        CatalogAugmenter(AugmentConfig()).augment(_items())  # no encoder, no embeddings
    out = CatalogAugmenter(AugmentConfig(neighbor_terms=0, related_terms=0)).augment(_items())
    assert out.queries["4"][0] == "wood stain"
