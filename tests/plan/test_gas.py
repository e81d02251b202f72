"""The gas table covers what the real Morpheus facets used, with a margin (the devnet bound is in
tests/plan/test_plan_devnet.py)."""

from __future__ import annotations

from reconciler.plan.gas import GAS_BY_KIND, REAL_FACETS_GAS
from reconciler.plan.model import ActionKind


def test_the_table_covers_the_real_facets_with_a_margin() -> None:
    assert GAS_BY_KIND[ActionKind.PROVIDER_REGISTER] >= 230_000
    assert GAS_BY_KIND[ActionKind.BID_POST] >= 520_000
    for kind, used in REAL_FACETS_GAS.items():
        assert GAS_BY_KIND[kind] * 100 >= used * 109, (kind, used)  # 9 % above what the real facets used
