"""`reconcile devnet up|down|status` on a real anvil, each test in its own directory and port."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.cli import cli
from reconciler.devnet import anvil as anvil_mod
from reconciler.devnet import local as devnet
from reconciler.devnet import unlocked
from tests.support.ports import free_port


@pytest.fixture
def devnet_dir(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    d = tmp_path / "devnet"
    port = free_port()
    try:
        yield d, port
    finally:
        devnet.down(d)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.mark.devnet
def test_up_status_and_fee_read_back(devnet_dir: tuple[Path, int]) -> None:
    d, port = devnet_dir
    code, out = run("devnet", "up", "--dir", str(d), "--port", str(port))
    assert code == 0, out
    info = json.loads((d / "devnet.json").read_text())
    assert info["chainId"] == 31337
    assert info["rpcUrl"] == f"http://127.0.0.1:{port}"
    for key in ("diamond", "mor", "delegateRegistry", "provider"):
        assert Web3.is_checksum_address(info[key])
        assert info[key] in out
    assert len(info["accounts"]) == 10

    code, out = run("devnet", "status", "--dir", str(d))
    assert code == 0, out
    assert "chain id 31337" in out
    assert info["diamond"] in out
    assert "0.3 MOR" in out  # bid fee read back from chain

    w3 = Web3(Web3.HTTPProvider(info["rpcUrl"]))
    market = w3.eth.contract(address=info["diamond"], abi=load_artifact("Marketplace").abi)
    assert market.functions.getBidFee().call() == 300000000000000000
    assert market.functions.getProviderMinimumStake().call() == 2 * 10**17
    assert market.functions.getModelMinimumStake().call() == 10**17
    assert market.functions.getMinMaxBidPricePerSecond().call() == [5 * 10**15, 2 * 10**19]
    mor = w3.eth.contract(address=info["mor"], abi=load_artifact("MorToken").abi)
    assert mor.functions.balanceOf(info["provider"]).call() == devnet.MINT_PER_ACCOUNT

    # up again while running: no second deployment
    code, out = run("devnet", "up", "--dir", str(d), "--port", str(port))
    assert code == 0, out
    assert "already running" in out and "already deployed" in out
    assert json.loads((d / "devnet.json").read_text())["diamond"] == info["diamond"]


@pytest.mark.devnet
def test_registration_survives_down_and_up(devnet_dir: tuple[Path, int]) -> None:
    d, port = devnet_dir
    info, _ = devnet.up(d, port=port)
    w3 = Web3(Web3.HTTPProvider(info["rpcUrl"]))
    provider = info["provider"]
    mor = w3.eth.contract(address=info["mor"], abi=load_artifact("MorToken").abi)
    market = w3.eth.contract(address=info["diamond"], abi=load_artifact("Marketplace").abi)
    stake = 2 * 10**17
    unlocked.send(w3, mor.functions.approve(info["diamond"], stake), provider)
    unlocked.send(w3, market.functions.providerRegister(provider, stake, "provider.example:3333"), provider)
    assert market.functions.getIsProviderActive(provider).call()

    code, out = run("devnet", "down", "--dir", str(d))
    assert code == 0 and "stopped" in out
    code, out = run("devnet", "status", "--dir", str(d))
    assert code == 1 and "not running" in out

    code, out = run("devnet", "up", "--dir", str(d), "--port", str(port))
    assert code == 0, out
    assert "from saved state" in out and "already deployed" in out
    w3 = Web3(Web3.HTTPProvider(info["rpcUrl"]))
    market = w3.eth.contract(address=info["diamond"], abi=load_artifact("Marketplace").abi)
    assert market.functions.getIsProviderActive(provider).call()
    assert market.functions.getProvider(provider).call()[0] == "provider.example:3333"


def test_port_taken_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, out = run("devnet", "up", "--dir", str(tmp_path / "d"), "--port", str(port))
    assert code == 1
    assert f"port {port}" in out and "--port" in out


def test_missing_anvil_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(anvil_mod, "REPO_ROOT", tmp_path)
    code, out = run("devnet", "up", "--dir", str(tmp_path / "d"), "--port", str(free_port()))
    assert code == 1
    assert "anvil is not installed" in out and "make setup" in out


def test_status_when_never_started(tmp_path: Path) -> None:
    code, out = run("devnet", "status", "--dir", str(tmp_path / "nothing"))
    assert code == 1
    assert "not running" in out and "never started" in out


@pytest.mark.devnet
def test_up_says_its_rpc_url_and_the_desired_state_lines_to_use_it(devnet_dir: tuple[Path, int]) -> None:
    d, port = devnet_dir
    code, out = run("devnet", "up", "--dir", str(d), "--port", str(port))
    assert code == 0, out
    assert f"http://127.0.0.1:{port}" in out
    assert "network:\n  preset: devnet\n" in out and f"  devnetDir: {d.resolve()}\n" in out
