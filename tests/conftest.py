"""Shared fixtures: a real anvil chain on a free loopback port, always stopped; every test using one is marked
`devnet` here (tests that start anvil themselves carry the marker in their module)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from reconciler.devnet.anvil import Anvil
from reconciler.devnet.local import Deployment, deploy_contracts, dev_accounts
from reconciler.devnet.local import down as devnet_down
from reconciler.devnet.local import up as devnet_up
from tests.support import money
from tests.support.ports import free_port

# The fixtures that start anvil, here and in tests/contracts/conftest.py: a test using one (directly or through
# another fixture) is a devnet test, so `make unit` (-m "not devnet and not browser") leaves it out.
ANVIL_FIXTURES = frozenset({"anvil", "w3", "deployed", "net", "deployed_chain"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if ANVIL_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.devnet)


@pytest.fixture(autouse=True)
def _own_working_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test runs in its own empty directory: what the commands keep in ./.reconcile by default (the
    chain reader's model index) never leaks from one test, or one run, into another."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


@pytest.fixture(autouse=True)
def _money_moved_is_what_apply_said() -> Iterator[None]:
    """Every `reconcile apply` run through tests/support/apply_helpers.py: the provider wallet's MOR delta equals,
    to the wei, what apply printed (refunds less fees and stake) and what the journal's transactions moved."""
    money.RUNS.clear()
    yield
    wrong = [f"{r.command} ({r.provider}): {p}" for r in money.RUNS for p in r.problems()]
    money.RUNS.clear()
    assert not wrong, "MOR moved other than apply said:\n  " + "\n  ".join(wrong)


@pytest.fixture
def anvil() -> Iterator[Anvil]:
    """A fresh anvil for one test (cheap: it starts in well under a second)."""
    with Anvil(port=free_port()) as node:
        yield node


@pytest.fixture
def w3(anvil: Anvil) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.rpc_url))


@pytest.fixture
def deployed(w3: Web3) -> Deployment:
    """Our Morpheus-compatible contracts on a fresh anvil, MOR minted to every dev account."""
    accounts = dev_accounts()
    return deploy_contracts(w3, accounts[0].address, mint_to=[a.address for a in accounts])


@pytest.fixture(scope="module")
def net() -> Iterator[dict[str, Any]]:
    """A devnet (`reconcile devnet up` in a temp dir) shared by one test module: devnet.json plus its `dir`."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d)
        try:
            info, _ = devnet_up(path, port=free_port())
            yield {**info, "dir": str(path)}
        finally:
            devnet_down(path)
