"""`reconcile approve PATH`: the MOR allowance the plan needs, sent from the PROVIDER wallet.

In delegate mode the signer cannot approve the provider's MOR, so the plan marks `mor.approve` as manual; this
command is that manual step, run by whoever holds the provider wallet's key. It approves exactly what the plan
spends (or a declared standing allowance with --amount, never less than that and never unlimited by default),
refuses a key that is not the provider's, and journals the transaction like apply does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import click
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from reconciler.apply.executor import state_path
from reconciler.apply.lock import LockHeld, StateLock
from reconciler.chain.artifacts import load_artifact
from reconciler.chain.calls import ChainCalls
from reconciler.chain.journal import Journal
from reconciler.chain.networks import NetworkError, resolve_network
from reconciler.chain.reader import ChainCheckError
from reconciler.chain.rpc import RpcError, connect
from reconciler.chain.sender import TxError, TxSender
from reconciler.desired.diagnostics import DesiredStateError
from reconciler.desired.loader import load_desired
from reconciler.desired.model import Desired
from reconciler.desired.references import Reference, ReferenceError_, parse_reference, resolve
from reconciler.market.units import AmountError, format_mor, parse_amount
from reconciler.pipeline import plan_for
from reconciler.plan.model import ActionKind

EXIT_OK, EXIT_ERROR = 0, 1
MAX_UINT256 = 2**256 - 1


class ApproveError(RuntimeError):
    """Why nothing was sent (the message never holds a key)."""


def provider_key(desired: Desired, key_ref: str | None, environ: Mapping[str, str] | None) -> LocalAccount:
    """The provider wallet's account: from --key-ref, else from the signer's key when the signer IS the provider."""
    provider = Web3.to_checksum_address(desired.provider.address)
    if key_ref is not None:
        try:
            ref = parse_reference(key_ref, Path.cwd())
        except ReferenceError_ as exc:
            raise ApproveError(f"--key-ref: {exc}") from None
        account = _from_ref(ref, environ, "--key-ref")
    elif desired.delegate_mode:
        raise ApproveError(
            f"the signer {desired.signer.address} is a delegate; the allowance must come from the provider wallet "
            f"{provider}: run this with --key-ref env:NAME or file:PATH holding that wallet's key"
        )
    elif desired.signer.private_key is not None:
        account = _from_ref(desired.signer.private_key, environ, "signer.privateKey")
    elif desired.signer.keystore is not None and desired.signer.password is not None:
        password = resolve(desired.signer.password, environ)
        if password is None:
            raise ApproveError(f"signer.password: the reference {desired.signer.password} has no value here")
        try:
            keystore = json.loads(Path(desired.signer.keystore).read_text())
            account = Account.from_key(Account.decrypt(keystore, password))
        except Exception as exc:  # wrong password, unreadable file: never echo anything of the key
            raise ApproveError(
                f"signer.keystore {desired.signer.keystore}: cannot decrypt ({type(exc).__name__})"
            ) from None
    else:
        raise ApproveError("no key: pass --key-ref env:NAME or file:PATH")
    if account.address != provider:
        raise ApproveError(
            f"the key given is for {account.address}, not the provider {provider}; the allowance must be "
            "approved by the provider wallet itself: refusing"
        )
    return account


def _from_ref(ref: Reference, environ: Mapping[str, str] | None, what: str) -> LocalAccount:
    value = resolve(ref, environ)
    if value is None:
        raise ApproveError(f"{what}: the reference {ref} has no value here")
    try:
        return Account.from_key(value.strip())
    except Exception:
        raise ApproveError(f"{what}: the value of {ref} is not a private key (value not shown)") from None


def run_approve(
    path: Path,
    amount_text: str | None,
    state_dir: Path,
    auto_approve: bool,
    key_ref: str | None,
    environ: Mapping[str, str] | None = None,
) -> int:
    try:
        return _approve(path, amount_text, state_dir, auto_approve, key_ref, environ)
    except DesiredStateError as exc:
        for d in exc.diagnostics:
            click.echo(str(d), err=True)
        return EXIT_ERROR
    except (ApproveError, NetworkError, ChainCheckError, RpcError, TxError, LockHeld, AmountError) as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_ERROR


def _approve(
    path: Path,
    amount_text: str | None,
    state_dir: Path,
    auto_approve: bool,
    key_ref: str | None,
    environ: Mapping[str, str] | None,
) -> int:
    desired, _warnings = load_desired(path)
    observed, p = plan_for(desired, environ)
    provider = Web3.to_checksum_address(desired.provider.address)
    current = observed.chain.payer_allowance
    action = next((a for a in p.actions if a.kind is ActionKind.MOR_APPROVE), None)
    if action is None:
        click.echo(
            f"nothing to approve: the allowance of {provider} to the Diamond ({format_mor(current)}) "
            "covers what this plan spends"
        )
        return EXIT_OK
    assert action.after is not None
    need = int(action.after["allowance"])
    if action.errors:
        for e in action.errors:
            click.echo(f"error: {e}", err=True)
        raise ApproveError("fix the above first; an allowance alone would not let this plan through")
    amount = need
    if amount_text is not None:
        amount = parse_amount(amount_text)
        if amount < need:
            raise ApproveError(f"--amount {format_mor(amount)} is below the {format_mor(need)} this plan spends")
        if amount == MAX_UINT256:
            click.echo("warning: an unlimited allowance: the Diamond may spend every MOR of this wallet", err=True)
    account = provider_key(desired, key_ref, environ)
    network = resolve_network(desired.network, environ)
    what = (
        f"approve: {provider} lets the Diamond {network.diamond} spend {format_mor(amount)} "
        f"(allowance now {format_mor(current)}; this plan spends {format_mor(need)})"
    )
    click.echo(what)
    if not auto_approve and not click.confirm("Send this approve?", default=False):
        click.echo("cancelled: nothing was sent", err=True)
        return EXIT_ERROR
    calls = ChainCalls(network.diamond, network.mor)
    w3 = connect(network.rpc_url, network.rpc_label)
    state = state_path(state_dir, network, provider)  # the same journal and lock as apply
    with StateLock(state / "apply.lock") as lock:
        if lock.took_over is not None:
            click.echo(f"took over a stale lock of {lock.took_over.describe()}", err=True)
        sender = TxSender(
            w3,
            account,
            Journal(state / "journal.jsonl"),
            plan_id=f"approve:{p.observed_fingerprint}",
            decoder=calls.decoder,
            legacy=network.legacy,
            progress=lambda line: click.echo(line, err=True),
        )
        report = sender.resume()  # a killed earlier approve: its transaction is found or re-sent, never doubled
        if report.rebroadcast:
            sender.wait(report.rebroadcast)
        sender.wait_until_no_pending()
        token = w3.eth.contract(address=calls.mor, abi=load_artifact("MorToken").abi)
        now = int(token.functions.allowance(provider, calls.diamond).call())
        if now >= need and amount_text is None:
            click.echo(f"the allowance is already {format_mor(now)}: nothing sent")
            return EXIT_OK
        record = sender.send(calls.approve("mor.approve", amount))
        done = sender.wait([record])[0]
    click.echo(
        f"approved {format_mor(amount)} for the Diamond from {provider} (tx {done.tx_hash}, block {done.block}); "
        f"now run `reconcile apply {path}`"
    )
    return EXIT_OK
