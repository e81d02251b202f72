"""Shared fixtures: a real anvil chain on a free loopback port, always stopped."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from reconciler.anvil import Anvil
from reconciler.devnet import Deployment, deploy_contracts, dev_accounts


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    """A fresh anvil for one test (cheap: it starts in well under a second)."""
    with Anvil() as node:
        yield node


@pytest.fixture
def w3(anvil: Anvil) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.rpc_url))


@pytest.fixture
def deployed(w3: Web3) -> Deployment:
    """Our Morpheus-compatible contracts on a fresh anvil, MOR minted to every dev account."""
    accounts = dev_accounts()
    return deploy_contracts(w3, accounts[0].address, mint_to=[a.address for a in accounts])
