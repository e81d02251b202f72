"""Gas per action kind, measured on the devnet (tests/test_gas_table.py keeps the table honest).

The planner multiplies these by the observed fee per gas (plus, on OP-stack chains, the L1 data fee the
GasPriceOracle quotes, passed in as observed data) so that it stays free of I/O. Values are upper bounds.
"""

from __future__ import annotations

from reconciler.plan.model import ActionKind

# Measured on the devnet (tests/test_plan_devnet.py) and rounded up by ~10-50%:
# approve 45,961; provider register 166,382 / update 66,241 / deregister 86,788; model register 323,907 /
# update 75,935 / deregister 68,498; bid post 420,529 (first post of a pair) / delete 54,328.
GAS_BY_KIND: dict[ActionKind, int] = {
    ActionKind.MOR_APPROVE: 55_000,
    ActionKind.PROVIDER_REGISTER: 200_000,
    ActionKind.PROVIDER_UPDATE: 80_000,
    ActionKind.PROVIDER_DEREGISTER: 105_000,
    ActionKind.MODEL_REGISTER: 360_000,
    ActionKind.MODEL_UPDATE: 120_000,
    ActionKind.MODEL_DEREGISTER: 85_000,
    ActionKind.BID_POST: 465_000,
    ActionKind.BID_DELETE: 70_000,
}


def gas_for(kind: ActionKind) -> int:
    return GAS_BY_KIND.get(kind, 0)
