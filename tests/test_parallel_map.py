"""engine.source.parallel_map hands items to its threads in runs: results keep the items' order, and
the first failing item (in order) raises, as a plain list comprehension would."""

import pytest

from tf2eng.engine.source import parallel_map


@pytest.mark.parametrize("n", [0, 1, 2, 7, 63, 64, 65, 1000, 2001])
def test_results_in_item_order(n):
    items = list(range(n))
    assert parallel_map(lambda x: x * x, items) == [x * x for x in items]


def test_first_failing_item_raises():
    def fn(x):
        if x in (1500, 700):
            raise ValueError(f"item {x}")
        return x

    with pytest.raises(ValueError, match="item 700"):
        parallel_map(fn, list(range(2000)))
