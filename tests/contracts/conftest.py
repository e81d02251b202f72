"""One anvil for the whole contract suite, deployed once; each test runs inside an evm_snapshot/evm_revert."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from reconciler.devnet.anvil import Anvil
from reconciler.devnet.local import MarketParams, deploy_contracts, dev_accounts
from tests.support.contract_helpers import Chain, contract_at, event_table


@pytest.fixture(scope="session")
def deployed_chain() -> Iterator[Chain]:
    with Anvil() as anvil:
        w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
        accounts = [a.address for a in dev_accounts()]
        params = MarketParams()
        dep = deploy_contracts(w3, accounts[0], params, mint_to=accounts)
        yield Chain(
            w3=w3,
            dep=dep,
            mor=contract_at(w3, "MorToken", dep.mor),
            registry=contract_at(w3, "DelegateRegistry", dep.delegate_registry),
            market=contract_at(w3, "Marketplace", dep.diamond),
            accounts=accounts,
            params=params,
            _events=event_table(),
        )


@pytest.fixture
def chain(deployed_chain: Chain) -> Iterator[Chain]:
    """The shared chain, rolled back after the test."""
    snap = deployed_chain.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        yield deployed_chain
    finally:
        deployed_chain.w3.provider.make_request("evm_revert", [snap])  # type: ignore[arg-type]
