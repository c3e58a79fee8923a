from __future__ import annotations

import pytest

from shopsense.text.normalize import normalize, tokenize


@pytest.mark.parametrize("a,b", [
    ("1/2 in. pipe", "1/2-inch pipe"),
    ('1/2" pipe', "1/2 inch pipe"),
    ("5 gal. bucket", "5 gallon bucket"),
    ("8 ft. board", "8 foot board"),
    ("2x4 stud", "2 x 4 stud"),
    ("1.9 cu. ft. microwave", "1.9 cubic feet microwave"),
    ("12V drill", "12 volt drill"),
])
def test_unit_spellings_tokenize_alike(a, b):
    assert tokenize(a) == tokenize(b)


def test_normalize_keeps_non_latin_and_html():
    assert normalize("Tom &amp; Jerry") == "tom & jerry"
    assert tokenize("平底锅 Küche") == ["平底锅", "küche"]
    assert tokenize("😀") == []


@pytest.mark.parametrize("title,head", [
    ("RIDGID 10 in. Portable Tile Saw with Laser", ("saw", "tile")),
    ("Glacier Bay Lancaster 24 in. Vanity in White", ("vanity", "lancaster")),
    ("Sharp Carousel 1.1 cu. ft. 1000-Watt Countertop Microwave Oven in Stainless Steel", ("oven", "microwave")),
    ("Milwaukee 1 in. #2 Philips Shockwave Impact Duty Steel Insert Bits (5-Pack)", ("bits", "insert")),
    ("Wiremold Non-Metallic T-Fitting - White", ("fitting", "t")),
    ("Everbilt 1/2 in. Zinc Plated Washer 3 in.", ("washer", "plated")),  # trailing size is no product type
    ("Amerimax Home Products 3 ft. Brown Lock-On Gutter Guard, 2-Pack", ("guard", "gutter")),
    ("Saw", ("saw", "")),
    ("12 in.", ("", "")),
    ("", ("", "")),
    ("平底锅 in red", ("平底锅", "")),
])
def test_product_head_reads_the_type_word_off_a_title(title, head):
    from shopsense.text.normalize import product_head

    assert product_head(title) == head
