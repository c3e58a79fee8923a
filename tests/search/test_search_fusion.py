from __future__ import annotations

import numpy as np

from shopsense.search.fusion import minmax, ranks_of, rrf, weighted


def test_rrf_on_hand_made_lists():
    # candidates a, b, c, d; list 1 ranks a,b,c ; list 2 ranks c,a (b, d absent) ; d only in neither
    r1 = np.array([1, 2, 3, 0])
    r2 = np.array([2, 0, 1, 0])
    s = rrf([r1, r2], k=60)
    np.testing.assert_allclose(s, [1 / 61 + 1 / 62, 1 / 62, 1 / 63 + 1 / 61, 0.0])
    assert list(np.argsort(-s)) == [0, 2, 1, 3]
    np.testing.assert_allclose(rrf([r1, r2], k=1, weights=[2, 0]), [1.0, 2 / 3, 0.5, 0.0])


def test_weighted_fusion_on_hand_made_scores():
    lex = np.array([10.0, 5.0, 0.0])
    cos = np.array([0.2, 0.9, 0.5])
    np.testing.assert_allclose(weighted([lex, cos], [0.5, 0.5], "max"), [0.5 + 0.1 / 0.9, 0.25 + 0.5, 0.5 * 0.5 / 0.9])
    np.testing.assert_allclose(weighted([lex, cos], [1.0, 0.0], "minmax"), [1.0, 0.5, 0.0])
    assert minmax(np.array([3.0, 3.0])).tolist() == [0.0, 0.0]
    assert ranks_of(np.array([0.1, 0.9, 0.5])).tolist() == [3, 1, 2]
