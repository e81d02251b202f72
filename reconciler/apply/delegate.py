"""The delegate.xyz v2 rights a hot key needs to act for the provider wallet, checked, granted and revoked.

Why here: in delegate mode the provider wallet (cold) signs once, `delegateContract(hot key, Diamond, right,
enable)` on the registry the Diamond itself names (`getRegistry()`), one transaction per right; the hot key
then registers, bids and claims for it. Granting is a chain write like apply's, so it goes through the same
journaled writer (lock, journal, resume of a killed run). Messages never hold a key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from web3 import Web3

from reconciler import GuardRefused
from reconciler.apply.writer import Progress, open_writer, state_path
from reconciler.chain.artifacts import load_artifact
from reconciler.chain.calls import ChainCalls
from reconciler.chain.journal import TxRecord
from reconciler.chain.networks import Network, resolve_network
from reconciler.chain.reader import DELEGATION_RIGHTS, right_hash
from reconciler.chain.rpc import connect_all
from reconciler.chain.sender import TxRequest
from reconciler.desired.model import Desired


class DelegateError(GuardRefused):
    """Why nothing was sent (the message never holds a key)."""


def rights_needed(desired: Desired) -> tuple[str, ...]:
    """The rights this desired state's writes need from a delegate signer: `provider` always (register, stake,
    endpoint), `model` when it owns models, `marketplace` when it bids, `session` with policy.autoClaim."""
    need = ["provider"]
    if any(m.base_model_id for m in desired.models):
        need.append("model")
    if any(m.bid is not None or m.absent for m in desired.models):
        need.append("marketplace")
    if desired.policy.auto_claim:
        need.append("session")
    return tuple(need)


def parse_rights(text: str) -> tuple[str, ...]:
    """`--rights provider,model`: known names only, in the registry's order."""
    names = {n.strip() for n in text.split(",") if n.strip()}
    unknown = sorted(names - set(DELEGATION_RIGHTS))
    if unknown or not names:
        raise DelegateError(f"--rights: unknown {', '.join(unknown) or '(none)'}; use {', '.join(DELEGATION_RIGHTS)}")
    return tuple(r for r in DELEGATION_RIGHTS if r in names)


@dataclass(frozen=True)
class Delegation:
    """Who delegates to whom, on which Diamond and registry, and which rights are granted now."""

    network: Network
    provider: str
    delegate: str
    registry: str
    granted: Mapping[str, bool]


def read_delegation(desired: Desired, environ: Mapping[str, str] | None) -> Delegation:
    """The registry the Diamond uses, and the rights `signer` holds from `provider` there (via the Diamond's own
    `isRightsDelegated`, so what is read is what the marketplace will check)."""
    if not desired.delegate_mode:
        raise DelegateError(
            f"the signer {desired.signer.address} is the provider itself: there is nothing to delegate "
            "(delegate mode is a signer address other than provider.address)"
        )
    network = resolve_network(desired.network, environ)
    w3 = connect_all(network.endpoints())
    market = w3.eth.contract(address=Web3.to_checksum_address(network.diamond), abi=load_artifact("Marketplace").abi)
    provider = Web3.to_checksum_address(desired.provider.address)
    delegate = Web3.to_checksum_address(desired.signer.address)
    registry = Web3.to_checksum_address(market.functions.getRegistry().call())
    granted = {
        r: bool(market.functions.isRightsDelegated(delegate, provider, right_hash(r)).call()) for r in DELEGATION_RIGHTS
    }
    return Delegation(network, provider, delegate, registry, granted)


def cold_key(delegation: Delegation, account: LocalAccount) -> LocalAccount:
    """The provider wallet's key is the only one that can grant or revoke its rights."""
    if account.address != delegation.provider:
        raise DelegateError(
            f"the key given is for {account.address}, not the provider {delegation.provider}; rights are granted "
            "by the provider wallet itself: refusing"
        )
    return account


def changes(delegation: Delegation, rights: Iterable[str], enable: bool) -> tuple[str, ...]:
    """The rights whose state differs from `enable` (what a grant or revoke must send)."""
    return tuple(r for r in rights if delegation.granted.get(r, False) is not enable)


def send_rights(
    delegation: Delegation,
    account: LocalAccount,
    rights: tuple[str, ...],
    enable: bool,
    state_dir: Path,
    progress: Progress,
) -> list[TxRecord]:
    """One `delegateContract(delegate, Diamond, right, enable)` per right, from the provider wallet, journaled
    under the provider's writer; a killed earlier run is finished first and a right already in place skipped."""
    network = delegation.network
    calls = ChainCalls(network.diamond, network.mor)
    w3 = connect_all(network.endpoints())
    registry = w3.eth.contract(
        address=Web3.to_checksum_address(delegation.registry), abi=load_artifact("DelegateRegistry").abi
    )
    market = w3.eth.contract(address=Web3.to_checksum_address(network.diamond), abi=load_artifact("Marketplace").abi)
    verb = "grant" if enable else "revoke"
    state = state_path(state_dir, network, delegation.provider)
    plan_id = f"delegate.{verb}:{delegation.delegate.lower()}"
    with open_writer(state, w3, account, network, progress=progress, plan_id=plan_id) as writer:
        writer.resume_and_wait()
        writer.sender.wait_until_no_pending()
        records = []
        for r in rights:
            now = bool(
                market.functions.isRightsDelegated(delegation.delegate, delegation.provider, right_hash(r)).call()
            )
            if now is enable:
                continue
            data = registry.encode_abi(
                "delegateContract", args=[delegation.delegate, calls.diamond, right_hash(r), enable]
            )
            records.append(
                writer.sender.send(TxRequest(f"delegate.{verb}:{r}", f"delegate.{verb}", delegation.registry, data))
            )
        return writer.sender.wait(records) if records else []
