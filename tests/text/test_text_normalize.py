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
