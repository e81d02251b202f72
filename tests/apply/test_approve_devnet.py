"""`reconcile approve` on a real devnet, in delegate mode: the provider wallet's key approves exactly what the
plan spends, a key of anyone else is refused, the transaction is journaled, and the plan then has no approve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.cli import cli
from reconciler.pipeline import make_plan
from reconciler.plan.model import ActionKind, Status
from tests.support.terminal import at_a_terminal

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "desired-state" / "devnet.yaml"
EXAMPLE_PROVIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _delegate_state(net: dict[str, Any], tmp_path: Path, provider: int, signer: int) -> Path:
    """The devnet example with provider account `provider` and a delegate signer `signer` (a hot key)."""
    p, s = net["accounts"][provider]["address"], net["accounts"][signer]["address"]
    text = EXAMPLE.read_text().replace("../../.demo/forwarder-models.json", str(tmp_path / "fwd.json"))
    text = text.replace(f'address: "{EXAMPLE_PROVIDER}"   # same as the signer', f'address: "{p}"   # delegating')
    text = text.replace(f'address: "{EXAMPLE_PROVIDER}"', f'address: "{s}"')
    path = tmp_path / "delegate.yaml"
    path.write_text(text)
    return path


def _allowance(net: dict[str, Any], owner: str) -> int:
    w3 = Web3(Web3.HTTPProvider(net["rpcUrl"]))
    mor = w3.eth.contract(address=net["mor"], abi=load_artifact("MorToken").abi)
    return int(mor.functions.allowance(owner, net["diamond"]).call())


def _run(net: dict[str, Any], args: list[str], input: str | None = None, **env: str) -> Any:
    return CliRunner().invoke(cli, ["approve", *args], env={"RECONCILE_DEVNET_DIR": net["dir"], **env}, input=input)


def test_approve_in_delegate_mode_from_the_provider_wallet(net: dict[str, Any], tmp_path: Path) -> None:
    path = _delegate_state(net, tmp_path, provider=5, signer=6)
    provider, signer = net["accounts"][5], net["accounts"][6]
    env = {"RECONCILE_DEVNET_DIR": net["dir"], "DEMO_UPSTREAM_KEY": "k"}
    _, p = make_plan(path, env)
    approve = next(a for a in p.actions if a.kind is ActionKind.MOR_APPROVE)
    assert approve.status is Status.MANUAL and "reconcile approve" in approve.reason
    need = approve.after["allowance"] if approve.after else 0
    assert need > 0 and _allowance(net, provider["address"]) == 0
    state = tmp_path / "state"
    base = [str(path), "--state-dir", str(state), "--auto-approve"]

    r = _run(net, base, DEMO_UPSTREAM_KEY="k")  # the signer is a delegate: its key cannot approve
    assert r.exit_code == 1 and "is a delegate" in r.stderr and "--key-ref" in r.stderr
    r = _run(net, [*base, "--key-ref", "env:HOT"], DEMO_UPSTREAM_KEY="k", HOT=signer["privateKey"])
    assert r.exit_code == 1 and f"is for {signer['address']}, not the provider" in r.stderr
    assert signer["privateKey"] not in r.output and signer["privateKey"][2:] not in r.output
    r = _run(net, [*base, "--key-ref", "env:COLD", "--amount", "0.1 MOR"], DEMO_UPSTREAM_KEY="k", COLD="0x" + "1" * 64)
    assert r.exit_code == 1 and "below the" in r.stderr
    r = _run(net, [*base, "--key-ref", "env:MISSING"], DEMO_UPSTREAM_KEY="k")
    assert r.exit_code == 1 and "env:MISSING has no value" in r.stderr
    assert _allowance(net, provider["address"]) == 0  # nothing was sent by any refused run

    r = _run(net, [*base, "--key-ref", "env:COLD"], DEMO_UPSTREAM_KEY="k", COLD=provider["privateKey"])
    assert r.exit_code == 0, r.output
    assert "approved " in r.stdout and provider["privateKey"][2:] not in r.output
    assert _allowance(net, provider["address"]) == need  # exactly what the plan spends, not unlimited
    records = [
        json.loads(line)
        for line in (state / f"31337-{provider['address'].lower()}" / "journal.jsonl").read_text().splitlines()
    ]
    assert records[-1]["status"] == "mined" and records[-1]["action"] == "mor.approve"
    assert records[-1]["sender"] == provider["address"]
    assert not (state / f"31337-{provider['address'].lower()}" / "apply.lock").exists()

    _, p = make_plan(path, env)
    assert not any(a.kind is ActionKind.MOR_APPROVE for a in p.actions)
    r = _run(net, [*base, "--key-ref", "env:COLD"], DEMO_UPSTREAM_KEY="k", COLD=provider["privateKey"])
    assert r.exit_code == 0 and "nothing to approve" in r.stdout


def test_standing_allowance_and_signer_key_when_the_signer_is_the_provider(net: dict[str, Any], tmp_path: Path) -> None:
    path = _delegate_state(net, tmp_path, provider=7, signer=7)
    provider = net["accounts"][7]
    state = tmp_path / "state"
    # the question is answered at a terminal only (a piped answer is refused: test_a_piped_answer_never_...)
    args = ["approve", str(path), "--state-dir", str(state), "--amount", "5 MOR"]
    env = {"RECONCILE_DEVNET_DIR": net["dir"], "DEMO_UPSTREAM_KEY": "k", "DEVNET_PROVIDER_KEY": provider["privateKey"]}
    code, shown = at_a_terminal(args, env, [(b"Send this approve?", b"n\n")])
    assert code == 1 and "nothing was sent" in shown and _allowance(net, provider["address"]) == 0
    code, shown = at_a_terminal(args, env, [(b"Send this approve?", b"y\n")])
    assert code == 0, shown
    assert _allowance(net, provider["address"]) == 5 * 10**18


def test_a_killed_approve_is_resumed_not_sent_twice(net: dict[str, Any], tmp_path: Path) -> None:
    """The previous run journaled its approve and died before broadcasting: the next run sends those very bytes."""
    from eth_account import Account

    from reconciler.chain.calls import ChainCalls
    from reconciler.chain.journal import Journal
    from reconciler.chain.sender import TxSender

    path = _delegate_state(net, tmp_path, provider=8, signer=9)
    provider = net["accounts"][8]
    _, p = make_plan(path, {"RECONCILE_DEVNET_DIR": net["dir"], "DEMO_UPSTREAM_KEY": "k"})
    approve = next(a for a in p.actions if a.kind is ActionKind.MOR_APPROVE)
    need = approve.after["allowance"] if approve.after else 0
    state = tmp_path / "state"
    w3 = Web3(Web3.HTTPProvider(net["rpcUrl"]))
    calls = ChainCalls(net["diamond"], net["mor"])
    dead = TxSender(
        w3,
        Account.from_key(provider["privateKey"]),
        Journal(state / f"31337-{provider['address'].lower()}" / "journal.jsonl"),
        plan_id="x",
    )
    dead._broadcast = lambda record: None  # type: ignore[method-assign]  # killed right after the fsync
    journaled = dead.send(calls.approve("mor.approve", need))
    assert _allowance(net, provider["address"]) == 0

    r = _run(
        net,
        [str(path), "--state-dir", str(state), "--auto-approve", "--key-ref", "env:COLD"],
        DEMO_UPSTREAM_KEY="k",
        COLD=provider["privateKey"],
    )
    assert r.exit_code == 0, r.output
    assert "re-broadcast journaled tx" in r.stderr and "nothing sent" in r.stdout
    assert w3.eth.get_transaction_receipt(journaled.tx_hash)["status"] == 1
    assert w3.eth.get_transaction_count(provider["address"]) == 1  # one approve, not two
    assert _allowance(net, provider["address"]) == need


def test_approve_with_the_provider_keystore(net: dict[str, Any], tmp_path: Path) -> None:
    """The cold wallet kept in an encrypted keystore: a wrong password, a keystore of another wallet and a missing
    password (no terminal to ask) are refused with nothing sent and no secret shown; the right one approves."""
    from eth_account import Account

    path = _delegate_state(net, tmp_path, provider=3, signer=4)
    provider, signer = net["accounts"][3], net["accounts"][4]
    password = "cold wallet passphrase"

    def keystore(key: str, name: str) -> str:
        ks = tmp_path / name
        ks.write_text(json.dumps(Account.encrypt(key, password, kdf="pbkdf2", iterations=2)))
        return str(ks)

    cold, hot = keystore(provider["privateKey"], "cold.json"), keystore(signer["privateKey"], "hot.json")
    pw_file = tmp_path / "pw"
    pw_file.write_text(password + "\n")
    pw_file.chmod(0o600)  # a chain key's password file open to others is refused, as the key's own file is
    state = tmp_path / "state"
    base = [str(path), "--state-dir", str(state), "--yes"]

    def secretless(r: Any) -> None:
        for secret in (password, provider["privateKey"][2:], signer["privateKey"][2:]):
            assert secret not in r.output

    r = _run(net, [*base, "--keystore", cold, "--password-ref", "env:PW"], DEMO_UPSTREAM_KEY="k", PW="wrong")
    assert r.exit_code == 1 and "(wrong password; password not shown)" in r.stderr, r.output
    secretless(r)
    r = _run(net, [*base, "--keystore", hot, "--password-ref", f"file:{pw_file}"], DEMO_UPSTREAM_KEY="k")
    assert r.exit_code == 1 and f"is for {signer['address']}, not the provider" in r.stderr
    secretless(r)
    r = _run(net, [*base, "--keystore", cold], DEMO_UPSTREAM_KEY="k")
    assert r.exit_code == 1 and "no terminal to ask for its password" in r.stderr
    assert _allowance(net, provider["address"]) == 0  # nothing was sent by any refused run

    r = _run(net, [*base, "--keystore", cold, "--password-ref", f"file:{pw_file}"], DEMO_UPSTREAM_KEY="k")
    assert r.exit_code == 0, r.output
    assert "approved " in r.stdout and _allowance(net, provider["address"]) > 0
    secretless(r)


def test_a_piped_answer_never_confirms_an_approve(net: dict[str, Any], tmp_path: Path) -> None:
    """One rule for every command that sends: no terminal and no --yes, refused and said so (a `yes |` answers
    nothing); the same rule as `apply`."""
    path = _delegate_state(net, tmp_path, provider=6, signer=6)
    provider = net["accounts"][6]
    args = [str(path), "--state-dir", str(tmp_path / "state"), "--amount", "5 MOR"]
    r = _run(net, args, DEMO_UPSTREAM_KEY="k", DEVNET_PROVIDER_KEY=provider["privateKey"], input="y\n")
    assert r.exit_code == 1, r.output
    assert "no terminal to ask for confirmation" in r.stderr and "--yes" in r.stderr
    assert _allowance(net, provider["address"]) == 0
