"""The local devnet: anvil with our Morpheus-compatible contracts, persisted under a directory.

`reconcile devnet up` starts anvil (state in DIR/anvil-state.json, so registrations survive a restart),
deploys the contracts once with Base Sepolia's parameters, mints MOR to the well-known anvil accounts (the
deployer, also the sessions' funding account, approves the marketplace to pay providers from it) and
writes DIR/devnet.json, which the `devnet` network preset reads.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

from eth_account import Account
from web3 import Web3
from web3.contract import Contract

from reconciler import EndpointUnusable
from reconciler.chain.artifacts import load_artifact
from reconciler.chain.networks import read_devnet_info
from reconciler.devnet import unlocked
from reconciler.devnet.anvil import Anvil, AnvilError, is_anvil, port_in_use, rpc_answers
from reconciler.host.processes import stop_pid

MOR = 10**18
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ACCOUNT_COUNT = 10
MINT_PER_ACCOUNT = 10_000 * MOR
DEPLOYER_INDEX = 0
PROVIDER_INDEX = 1  # the account the examples use as the provider


@dataclass(frozen=True)
class MarketParams:
    """Owner-set marketplace parameters; the defaults are Base Sepolia's deploy config."""

    provider_min_stake: int = 2 * MOR // 10
    model_min_stake: int = MOR // 10
    bid_fee: int = 3 * MOR // 10
    min_price_per_second: int = 5 * 10**15
    max_price_per_second: int = 2 * 10**19


@dataclass(frozen=True)
class DevAccount:
    address: str
    private_key: str


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    diamond: str
    mor: str
    delegate_registry: str
    owner: str


def dev_accounts(count: int = ACCOUNT_COUNT) -> list[DevAccount]:
    """anvil's well-known accounts (public test keys derived from its default mnemonic)."""
    Account.enable_unaudited_hdwallet_features()
    out = []
    for i in range(count):
        acct = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        out.append(DevAccount(address=acct.address, private_key=acct.key.hex()))
    return out


def _deploy(w3: Web3, name: str, sender: str, *args: Any) -> Contract:
    art = load_artifact(name)
    factory = w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(unlocked.transact(factory.constructor(*args), sender))
    if receipt["status"] != 1:
        raise RuntimeError(f"deploying {name} reverted")
    return cast(Contract, w3.eth.contract(address=receipt["contractAddress"], abi=art.abi))


def deploy_contracts(
    w3: Web3,
    owner: str,
    params: MarketParams | None = None,
    mint_to: list[str] | None = None,
    mint_amount: int = MINT_PER_ACCOUNT,
) -> Deployment:
    """Deploy MOR, the delegate registry and the marketplace from `owner` (an unlocked anvil account)."""
    params = params or MarketParams()
    mor = _deploy(w3, "MorToken", owner)
    registry = _deploy(w3, "DelegateRegistry", owner)
    market = _deploy(
        w3,
        "Marketplace",
        owner,
        mor.address,
        registry.address,
        params.provider_min_stake,
        params.model_min_stake,
        params.bid_fee,
        params.min_price_per_second,
        params.max_price_per_second,
    )
    for addr in mint_to or []:
        unlocked.send(w3, mor.functions.mint(addr, mint_amount), owner)
    # The deployer is the session router's funding account: providers' pay for stipend sessions comes from it.
    unlimited = 2**256 - 1
    unlocked.send(w3, mor.functions.approve(market.address, unlimited), owner)
    return Deployment(
        chain_id=w3.eth.chain_id,
        diamond=market.address,
        mor=mor.address,
        delegate_registry=registry.address,
        owner=owner,
    )


# --- the persistent devnet under a directory -------------------------------------------------------


class DevnetError(EndpointUnusable):
    """A devnet command could not do what was asked; the message says what to do."""


def info_path(dirpath: Path) -> Path:
    return dirpath / "devnet.json"


def read_info(dirpath: Path) -> dict[str, Any] | None:
    path = info_path(dirpath)
    if not path.is_file():
        return None
    return read_devnet_info(path)


def _write_info(dirpath: Path, info: dict[str, Any]) -> None:
    path = info_path(dirpath)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _pid(dirpath: Path) -> int | None:
    try:
        pid = int((dirpath / "anvil.pid").read_text().strip())
    except (OSError, ValueError):  # none, or not a file this tool wrote (a --dir that is a file, garbage)
        return None
    return pid if 0 < pid < 2**31 and is_anvil(pid) else None


def _has_code(w3: Web3, address: str) -> bool:
    return len(w3.eth.get_code(Web3.to_checksum_address(address))) > 0


def up(
    dirpath: Path, port: int = 8545, host: str = "127.0.0.1", start_block: int = 0
) -> tuple[dict[str, Any], list[str]]:
    """Start (or find running) anvil under dirpath and deploy once. Returns devnet.json and progress lines.

    `start_block` starts a new chain at that height (anvil's genesis number; the blocks below it do not
    exist), so tests and benches see a chain as tall as Base's without mining it."""
    try:
        dirpath.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DevnetError(f"cannot use {dirpath} for the devnet: {exc.strerror or exc}") from None
    notes: list[str] = []
    info = read_info(dirpath)
    pid = _pid(dirpath)
    if pid is not None:
        url = info["rpcUrl"] if info else f"http://{host}:{port}"
        if rpc_answers(url) is None:
            raise DevnetError(
                f"anvil (pid {pid}) from {dirpath} runs but {url} does not answer; "
                f"run `reconcile devnet down --dir {dirpath}` and try again"
            )
        rpc_url = url
        notes.append(f"anvil already running (pid {pid}) at {rpc_url}")
    else:
        if port_in_use(host, port):
            raise DevnetError(
                f"port {port} on {host} is in use by another process; stop it or choose another port with --port"
            )
        anvil = Anvil(
            port=port,
            host=host,
            state_path=dirpath / "anvil-state.json",
            log_path=dirpath / "anvil.log",
            detach=True,
            start_block=0 if (dirpath / "anvil-state.json").exists() else start_block,  # a restore keeps its own
        )
        try:
            anvil.start()
        except AnvilError as exc:
            raise DevnetError(str(exc)) from exc
        assert anvil.process is not None
        (dirpath / "anvil.pid").write_text(f"{anvil.process.pid}\n")
        rpc_url = anvil.rpc_url
        restored = (dirpath / "anvil-state.json").exists()
        notes.append(
            f"started anvil (pid {anvil.process.pid}) at {rpc_url}" + (" from saved state" if restored else "")
        )
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    if info and info.get("rpcUrl") != rpc_url:
        info = {**info, "rpcUrl": rpc_url}
        _write_info(dirpath, info)
    if info and _has_code(w3, info["diamond"]):
        notes.append(f"contracts already deployed (Diamond {info['diamond']})")
        return info, notes
    accounts = dev_accounts()
    owner = accounts[DEPLOYER_INDEX].address
    dep = deploy_contracts(w3, owner, mint_to=[a.address for a in accounts])
    info = {
        "rpcUrl": rpc_url,
        "chainId": dep.chain_id,
        "diamond": dep.diamond,
        "mor": dep.mor,
        "delegateRegistry": dep.delegate_registry,
        "owner": dep.owner,
        "provider": accounts[PROVIDER_INDEX].address,
        "accounts": [{"address": a.address, "privateKey": a.private_key} for a in accounts],
        "params": asdict(MarketParams()),
    }
    _write_info(dirpath, info)
    notes.append(
        f"deployed contracts (Diamond {dep.diamond}) and minted "
        f"{MINT_PER_ACCOUNT // MOR} MOR to {len(accounts)} accounts"
    )
    return info, notes


def down(dirpath: Path) -> bool:
    """Stop the devnet's anvil (it saves its state first). True when one was running."""
    pid = _pid(dirpath)
    if dirpath.is_dir():
        (dirpath / "anvil.pid").unlink(missing_ok=True)
    if pid is None:
        return False
    return stop_pid(pid)


@dataclass(frozen=True)
class Status:
    running: bool
    pid: int | None
    rpc_url: str | None
    chain_id: int | None
    info: dict[str, Any] | None
    deployed: bool
    market: dict[str, int]


def status(dirpath: Path) -> Status:
    info = read_info(dirpath)
    pid = _pid(dirpath)
    rpc_url = info["rpcUrl"] if info else None
    chain_id = rpc_answers(rpc_url) if (pid and rpc_url) else None
    deployed = False
    market: dict[str, int] = {}
    if chain_id is not None and info is not None:
        w3 = Web3(Web3.HTTPProvider(rpc_url))
        deployed = _has_code(w3, info["diamond"])
        if deployed:
            market = read_market_params(w3, info["diamond"])
    return Status(
        running=chain_id is not None,
        pid=pid,
        rpc_url=rpc_url,
        chain_id=chain_id,
        info=info,
        deployed=deployed,
        market=market,
    )


def read_market_params(w3: Web3, diamond: str) -> dict[str, int]:
    """The minimums, fee and price bounds as the chain reports them (never hard-coded)."""
    c = w3.eth.contract(address=Web3.to_checksum_address(diamond), abi=load_artifact("Marketplace").abi)
    lo, hi = c.functions.getMinMaxBidPricePerSecond().call()
    return {
        "providerMinStake": c.functions.getProviderMinimumStake().call(),
        "modelMinStake": c.functions.getModelMinimumStake().call(),
        "bidFee": c.functions.getBidFee().call(),
        "minPricePerSecond": lo,
        "maxPricePerSecond": hi,
    }
