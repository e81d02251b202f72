"""The MOR allowance a plan needs, sent from the PROVIDER wallet: the one step a delegate signer cannot do.

In delegate mode the plan marks `mor.approve` as manual; `reconcile approve` is that manual step, run by whoever
holds the provider wallet's key. It approves what the plan's `mor.approve` asks (exactly what the plan spends, or
the standing `policy.allowance`) or `--amount`, never less than the plan spends, refuses a key that is not the provider's, and journals the transaction through the same
writer as apply and claim (`apply/writer.py`). Messages never hold a key.
"""

from __future__ import annotations

from collections.abc import Mapping
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
from reconciler.chain.rpc import connect_all
from reconciler.chain.signer import load_signer
from reconciler.desired.model import Desired
from reconciler.market.units import format_mor
from reconciler.pipeline import plan_for
from reconciler.plan.model import ActionKind, Allowance

MAX_UINT256 = 2**256 - 1


class ApproveError(GuardRefused):
    """Why nothing was sent (the message never holds a key)."""


@dataclass(frozen=True)
class AllowanceNeed:
    """What the plan needs approved: `need` is what it spends, `amount` what will be approved (>= need)."""

    provider: str
    network: Network
    current: int
    need: int
    amount: int
    plan_fingerprint: str


def allowance_need(
    desired: Desired, environ: Mapping[str, str] | None, amount: int | None, state_dir: Path
) -> AllowanceNeed:
    """Plan, and say what to approve (`need` 0: the current allowance already covers the plan)."""
    observed, p = plan_for(desired, environ, state_dir=state_dir)
    action = next((a for a in p.actions if a.kind is ActionKind.MOR_APPROVE), None)
    need = asked = 0
    if action is not None:
        assert isinstance(action.value, Allowance)
        asked = action.value.amount  # what the plan spends, or the standing policy.allowance
        need = sum(a.cost.mor_out for a in p.pending if a.kind is not ActionKind.MOR_APPROVE)
    if action is not None and action.errors:
        raise ApproveError(
            "; ".join(action.errors) + "; fix that first: an allowance alone would not let this plan through"
        )
    if need and amount is not None and amount < need:
        raise ApproveError(f"--amount {format_mor(amount)} is below the {format_mor(need)} this plan spends")
    return AllowanceNeed(
        provider=Web3.to_checksum_address(desired.provider.address),
        network=resolve_network(desired.network, environ),
        current=observed.chain.payer_allowance,
        need=need,
        amount=asked if amount is None else amount,
        plan_fingerprint=p.observed_fingerprint,
    )


def provider_key(desired: Desired, given: LocalAccount | None, environ: Mapping[str, str] | None) -> LocalAccount:
    """The provider wallet's account: the key given on the command line (`--key-ref` or `--keystore`), else the
    signer's key when the signer IS the provider; any other address is refused before anything is sent."""
    provider = Web3.to_checksum_address(desired.provider.address)
    if given is not None:
        account = given
    elif desired.delegate_mode:
        raise ApproveError(
            f"the signer {desired.signer.address} is a delegate; the allowance must come from the provider wallet "
            f"{provider}: run this with --key-ref env:NAME or file:PATH holding that wallet's key, or --keystore PATH"
        )
    else:
        account = load_signer(desired.signer, environ)
    if account.address != provider:
        raise ApproveError(
            f"the key given is for {account.address}, not the provider {provider}; the allowance must be "
            "approved by the provider wallet itself: refusing"
        )
    return account


def send_allowance(
    want: AllowanceNeed, account: LocalAccount, state_dir: Path, progress: Progress, *, exact_refresh: bool
) -> tuple[TxRecord | None, int]:
    """Approve `want.amount` from `account` under the provider's writer; returns (the mined record, or None when
    the allowance is already enough, and the allowance then). A killed earlier approve is found or re-sent first,
    never doubled. `exact_refresh`: skip when the allowance reached what the plan needs meanwhile."""
    network = want.network
    calls = ChainCalls(network.diamond, network.mor)
    w3 = connect_all(network.endpoints())
    state = state_path(state_dir, network, want.provider)
    plan_id = f"approve:{want.plan_fingerprint}"
    with open_writer(state, w3, account, network, progress=progress, plan_id=plan_id) as writer:
        writer.resume_and_wait()
        writer.sender.wait_until_no_pending()
        token = w3.eth.contract(address=calls.mor, abi=load_artifact("MorToken").abi)
        now = int(token.functions.allowance(want.provider, calls.diamond).call())
        if exact_refresh and now >= want.need:
            return None, now
        record = writer.sender.send(calls.approve("mor.approve", want.amount))
        return writer.sender.wait([record])[0], want.amount
