"""The gas table covers what the real Morpheus facets used, in both signing modes, with a margin (the devnet
bound, in both modes too, is in tests/plan/test_plan_devnet.py)."""

from __future__ import annotations

from reconciler.plan.gas import GAS_BY_KIND, REAL_FACETS_GAS
from reconciler.plan.model import ActionKind


def test_the_table_covers_the_real_facets_with_a_margin() -> None:
    assert GAS_BY_KIND[ActionKind.PROVIDER_REGISTER] >= 230_000
    assert GAS_BY_KIND[ActionKind.BID_POST] >= 520_000
    for kind, used in REAL_FACETS_GAS.items():
        for who, gas in used.items():
            assert GAS_BY_KIND[kind] * 100 >= gas * 109, (kind, who, gas)  # 9 % above what the real facets used


def test_delegate_mode_deletes_on_the_real_facets_are_bounded() -> None:
    """A hot key's bid.delete used 79,394 gas on the real facets, its model.deregister 90,169."""
    assert GAS_BY_KIND[ActionKind.BID_DELETE] * 100 >= 79_394 * 109
    assert GAS_BY_KIND[ActionKind.MODEL_DEREGISTER] * 100 >= 90_169 * 109
    assert REAL_FACETS_GAS[ActionKind.BID_DELETE]["hot key"] == 79_394  # recorded in the real-facet table
    assert REAL_FACETS_GAS[ActionKind.MODEL_DEREGISTER]["hot key"] == 90_169


def test_every_kind_of_the_table_but_model_update_has_a_real_facet_figure() -> None:
    assert set(GAS_BY_KIND) - set(REAL_FACETS_GAS) == {ActionKind.MODEL_UPDATE}
    assert set(REAL_FACETS_GAS) <= set(GAS_BY_KIND)
