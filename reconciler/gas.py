"""Gas per action kind, measured on the devnet (tests/test_gas_table.py keeps the table honest).

The planner multiplies these by the observed fee per gas (plus, on OP-stack chains, the L1 data fee the
GasPriceOracle quotes, passed in as observed data) so that it stays free of I/O. Values are upper bounds.
"""

from __future__ import annotations

from reconciler.plan.model import ActionKind

GAS_BY_KIND: dict[ActionKind, int] = {
    ActionKind.MOR_APPROVE: 60_000,
    ActionKind.PROVIDER_REGISTER: 200_000,
    ActionKind.PROVIDER_UPDATE: 120_000,
    ActionKind.PROVIDER_DEREGISTER: 100_000,
    ActionKind.MODEL_REGISTER: 350_000,
    ActionKind.MODEL_UPDATE: 200_000,
    ActionKind.MODEL_DEREGISTER: 100_000,
    ActionKind.BID_POST: 300_000,
    ActionKind.BID_DELETE: 100_000,
}


def gas_for(kind: ActionKind) -> int:
    return GAS_BY_KIND.get(kind, 0)
