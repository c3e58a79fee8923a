from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from shopsense.index.catalog import Catalog, Filters
from shopsense.types import Item

ITEMS = [
    Item(item_id="a", title="a", price=5, brand="Acme", category=["Tools", "Drills"], rating=4.5, stock=3),
    Item(item_id="b", title="b", price=30, brand="Acme", category=["Tools", "Saws"], rating=3.2, stock=0),
    Item(item_id="c", title="c", price=2000, brand="Zed", category=["Garden"], rating=4.0),
    Item(item_id="d", title="d"),
    Item(item_id="e", title="e", price=10, brand="zed", category=["Tools", "Drills"], rating=1.5, stock=9),
]


@pytest.fixture
def cat():
    c = Catalog()
    c.set_items(range(len(ITEMS)), ITEMS)
    return c


def test_facets_count_every_row_of_the_mask(cat):
    f = cat.facets(np.ones(5, bool))
    assert f["total"] == 5
    assert f["category"] == {"Tools > Drills": 2, "Tools > Saws": 1, "Garden": 1}
    assert f["category_top"] == {"Tools": 3, "Garden": 1}
    assert f["brand"] == {"Acme": 2, "Zed": 1, "zed": 1}
    assert f["price"] == {"0-10": 1, "10-25": 1, "25-50": 1, "1000+": 1}  # 10 falls in [10, 25)
    assert f["rating"] == {"4+": 2, "3+": 3, "2+": 3, "1+": 4}
    sub = cat.facets(np.array([True, False, False, True, True]))
    assert sub["total"] == 3 and sub["category"] == {"Tools > Drills": 2} and "price" in sub


def test_facets_follow_categories_added_later(cat):
    cat.facets(np.ones(5, bool))  # builds the top-level table for the current paths
    cat.set_items([5, 6, 7], [Item(item_id="f", title="f", price=1000, category=["Kitchen", "Pans"]),
                           Item(item_id="g", title="g", price=0.0, category=["Garden", "Hoses"]),
                           Item(item_id="h", title="h", price=-5.0)])
    f = cat.facets(np.ones(8, bool))
    assert f["category_top"] == {"Tools": 3, "Garden": 2, "Kitchen": 1}
    # 0 and 1000 open their buckets; a negative (invalid) price is counted in none, like an unknown one
    assert f["price"] == {"0-10": 2, "10-25": 1, "25-50": 1, "1000+": 2}


def test_filters(cat):
    assert cat.mask(Filters(price_max=30)).tolist() == [True, True, False, False, True]
    assert cat.mask(Filters(price_min=10, price_max=30)).tolist() == [False, True, False, False, True]
    assert cat.mask(Filters(category=["tools"])).tolist() == [True, True, False, False, True]
    assert cat.mask(Filters(category=["Tools > Drills"])).tolist() == [True, False, False, False, True]
    assert cat.mask(Filters(category=["Tool"])).sum() == 0  # prefix is by path segment, not by letters
    assert cat.mask(Filters(brand=["ZED"])).tolist() == [False, False, True, False, True]
    assert cat.mask(Filters(min_rating=4)).tolist() == [True, False, True, False, False]
    assert cat.mask(Filters(in_stock=True)).tolist() == [True, False, False, False, True]
    assert cat.mask(None).all()


def test_filters_validate_and_round_trip(cat, tmp_path):
    with pytest.raises(ValidationError):
        Filters(price_min=50, price_max=10)
    with pytest.raises(ValidationError):
        Filters(colour="red")
    cat.save(tmp_path / "c")
    c2 = Catalog.load(tmp_path / "c")
    assert c2.facets(np.ones(5, bool)) == cat.facets(np.ones(5, bool))
    cat.remove([0])
    assert cat.facets(np.ones(5, bool))["category"]["Tools > Drills"] == 1
