"""Gas per action kind: upper bounds for the real Morpheus facets and for the devnet's contracts.

The planner multiplies these by the observed fee per gas (plus, on OP-stack chains, the L1 data fee the
GasPriceOracle quotes, passed in as observed data) so that it stays free of I/O. Values are upper bounds:
tests/plan/test_plan_devnet.py checks every kind against what the devnet uses, and tests/plan/test_gas.py against
what the real facets used.
"""

from __future__ import annotations

from reconciler.plan.model import ActionKind

# Measured on the devnet (tests/plan/test_plan_devnet.py): approve 45,961; provider register 166,382 / update 66,241 /
# deregister 86,788; model register 323,907 / update 75,935 / deregister 68,498; bid post 420,529 (first post of
# a pair) / delete 54,328. The real Morpheus facets (built from the public contracts, deployed on anvil) use
# more for two kinds: provider register 209,441 and the first bid post 473,023; the others fit the table.
REAL_FACETS_GAS: dict[ActionKind, int] = {
    ActionKind.PROVIDER_REGISTER: 209_441,
    ActionKind.BID_POST: 473_023,
}
GAS_BY_KIND: dict[ActionKind, int] = {
    ActionKind.MOR_APPROVE: 55_000,
    ActionKind.PROVIDER_REGISTER: 230_000,
    ActionKind.PROVIDER_UPDATE: 80_000,
    ActionKind.PROVIDER_DEREGISTER: 105_000,
    ActionKind.MODEL_REGISTER: 360_000,
    ActionKind.MODEL_UPDATE: 120_000,
    ActionKind.MODEL_DEREGISTER: 85_000,
    ActionKind.BID_POST: 520_000,
    ActionKind.BID_DELETE: 70_000,
}


def gas_for(kind: ActionKind) -> int:
    return GAS_BY_KIND.get(kind, 0)
