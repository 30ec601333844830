"""The symmetry demonstration: equal starting weights stay equal; random ones do not."""
import numpy as np
import pytest

from minicnn.symmetry import compare_initializations, filter_spread, symmetry_experiment
from minicnn.nn import Parameter


def test_filter_spread_measures_the_largest_difference():
    w = np.zeros((3, 1, 2, 2))
    w[1, 0, 1, 0] = 0.5
    w[2, 0, 1, 0] = -0.25
    assert filter_spread(Parameter(w)) == 0.75


@pytest.mark.parametrize("filters, value", [(4, 0.1), (6, -0.05)])
def test_constant_init_keeps_every_filter_identical(filters, value):
    result = symmetry_experiment("constant", steps=15, filters=filters, value=value)
    assert result["spread"] == [0.0] * 16                     # identical before and after
    assert not np.allclose(result["filters"], value)          # ... although they did learn
    assert result["loss"][-1] < result["loss"][0]
    assert result["filters"].shape == (filters, 3, 3)


def test_random_init_filters_differ_and_train_differently():
    both = compare_initializations(steps=15)
    spread = both["random"]["spread"]
    assert min(spread) > 1e-2 and spread[-1] != spread[0]
    assert both["random"]["loss"][-1] < both["random"]["loss"][0]
    filters = both["random"]["filters"]
    assert len({f.tobytes() for f in filters}) == len(filters)


def test_bad_mode():
    with pytest.raises(ValueError, match="constant"):
        symmetry_experiment("zeros")
