"""Gas per action kind: upper bounds for the real Morpheus facets and for the devnet's contracts, in both signing
modes (the provider signing its own writes, and a hot key holding its delegated rights, whose every write also
pays the registry's rights check).

The planner multiplies these by the observed fee per gas (plus, on OP-stack chains, the L1 data fee the
GasPriceOracle quotes, passed in as observed data) so that it stays free of I/O. Values are upper bounds:
tests/plan/test_plan_devnet.py checks every kind against what the devnet uses in both modes, and
tests/plan/test_gas.py against what the real facets used (`REAL_FACETS_GAS`, with a margin). The figures are
recorded in docs/apply.md ("The gas table, measured").
"""

from __future__ import annotations

from reconciler.plan.model import ActionKind

# What the real Morpheus facets used (built from the public contracts, deployed on anvil with the Base Sepolia
# deploy parameters), by kind and by who signed: the provider, or a hot key (delegate mode). A bid post is the
# first post of a pair or a repost that replaces its bid; a provider update is a stake change.
REAL_FACETS_GAS: dict[ActionKind, dict[str, int]] = {
    ActionKind.MOR_APPROVE: {"provider wallet": 46_260},
    ActionKind.PROVIDER_REGISTER: {"provider": 209_573, "hot key": 191_032},
    ActionKind.PROVIDER_UPDATE: {"provider, stake change": 67_778},
    ActionKind.PROVIDER_DEREGISTER: {"provider": 77_150},
    ActionKind.MODEL_REGISTER: {"provider": 333_411, "hot key": 314_882},
    ActionKind.MODEL_DEREGISTER: {"hot key": 90_169},
    ActionKind.BID_POST: {
        "provider, first post": 473_023,
        "hot key, first post": 471_666,
        "provider, repost": 373_124,
        "hot key, repost": 393_655,
    },
    ActionKind.BID_DELETE: {"hot key": 79_394},
}
GAS_BY_KIND: dict[ActionKind, int] = {
    ActionKind.MOR_APPROVE: 55_000,
    ActionKind.PROVIDER_REGISTER: 230_000,
    ActionKind.PROVIDER_UPDATE: 90_000,
    ActionKind.PROVIDER_DEREGISTER: 105_000,
    ActionKind.MODEL_REGISTER: 370_000,
    ActionKind.MODEL_UPDATE: 120_000,
    ActionKind.MODEL_DEREGISTER: 100_000,
    ActionKind.BID_POST: 520_000,
    ActionKind.BID_DELETE: 90_000,
}


def gas_for(kind: ActionKind) -> int:
    return GAS_BY_KIND.get(kind, 0)
