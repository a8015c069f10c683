"""`compare`'s choice of strategies: all, or the listed ones and the linear references."""

import pytest

from multimodal_fusion.evaluation.comparison import selected


def test_compare_selects_all_strategies_or_the_listed_ones():
    assert selected("gated", "all")
    assert selected("gated", ["gated", "linear_early"]) and not selected("concat", ["gated"])
    assert selected("linear_early", ["gated"]) and selected("linear_late", "concat")
    assert selected("concat", "concat")
    with pytest.raises(ValueError, match="compare.strategies: unknown fusion strategy 'gatd'"):
        selected("concat", ["gatd"])
