"""`reconcile delegate PATH check|grant|revoke` on a real devnet (issue 21): the rights the desired state needs,
on the registry the Diamond names, sent from the provider wallet's key (a file reference), journaled like apply;
plan names the exact command while they are missing. The provider wallet's key may also be an encrypted keystore
whose password is typed, hidden, at a real terminal."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from eth_account import Account

from reconciler.cli import cli
from reconciler.pipeline import make_plan
from tests.support.terminal import at_a_terminal

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "desired-state" / "devnet.yaml"
EXAMPLE_PROVIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _desired(work: Path, provider: str, signer: str) -> Path:
    text = EXAMPLE.read_text().replace("../../.demo/forwarder-models.json", str(work / "fwd.json"))
    text = text.replace(f'address: "{EXAMPLE_PROVIDER}"   # same as the signer', f'address: "{provider}"   # cold')
    text = text.replace(f'address: "{EXAMPLE_PROVIDER}"', f'address: "{signer}"')
    text = text.replace("privateKey: env:DEVNET_PROVIDER_KEY", "privateKey: env:HOT_KEY")
    path = work / "desired.yaml"
    path.write_text(text)
    return path


def test_delegate_check_grant_revoke(net: dict[str, Any], tmp_path: Path) -> None:
    provider, hot = net["accounts"][7], net["accounts"][8]
    path = _desired(tmp_path, provider["address"], hot["address"])
    cold = tmp_path / "provider.key"
    cold.write_text(provider["privateKey"] + "\n")
    cold.chmod(0o600)
    env = {"RECONCILE_DEVNET_DIR": net["dir"], "DEMO_UPSTREAM_KEY": "k", "HOT_KEY": hot["privateKey"]}
    state = tmp_path / "state"

    def delegate(*args: str) -> Any:
        return CliRunner().invoke(cli, ["delegate", str(path), *args, "--state-dir", str(state)], env=env)

    _, p = make_plan(path, env)
    errors = [e for a in p.actions for e in a.errors if "delegation rights" in e]
    assert errors and all(f"reconcile delegate {path} grant --key-ref file:" in e for e in errors)

    r = delegate("check")
    assert r.exit_code == 2, r.output
    assert net["delegateRegistry"] in r.output and "missing: provider, model, marketplace;" in r.output
    r = delegate("grant", "--yes")
    assert r.exit_code == 1 and "--key-ref file:" in r.stderr  # the cold key is never guessed
    hot_file = tmp_path / "hot.key"
    hot_file.write_text(hot["privateKey"])
    hot_file.chmod(0o600)  # a key file open to others is refused before its address is looked at
    r = delegate("grant", "--yes", "--key-ref", f"file:{hot_file}")
    assert r.exit_code == 1 and "not the provider" in r.stderr

    r = delegate("grant", "--yes", "--key-ref", f"file:{cold}")
    assert r.exit_code == 0, r.output
    assert provider["privateKey"][2:] not in r.output
    journal = state / f"31337-{provider['address'].lower()}" / "journal.jsonl"
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    mined = [x for x in records if x["status"] == "mined"]
    assert {x["action_id"] for x in mined} == {f"delegate.grant:{r}" for r in ("provider", "model", "marketplace")}
    assert all(x["sender"] == provider["address"] for x in mined)
    assert delegate("check").exit_code == 0
    _, p = make_plan(path, env)
    assert not [e for a in p.actions for e in a.errors if "delegation rights" in e]
    r = delegate("grant", "--yes", "--key-ref", f"file:{cold}")
    assert r.exit_code == 0 and "nothing to grant" in r.output

    r = delegate("revoke", "--rights", "marketplace", "--yes", "--key-ref", f"file:{cold}")
    assert r.exit_code == 0, r.output
    r = delegate("check")
    assert r.exit_code == 2 and "missing: marketplace;" in r.output


def test_grant_from_a_keystore_with_the_password_typedat_a_terminal(net: dict[str, Any], tmp_path: Path) -> None:
    provider, hot = net["accounts"][5], net["accounts"][6]
    path = _desired(tmp_path, provider["address"], hot["address"])
    password = "typed, never echoed"
    keystore = tmp_path / "provider.json"
    keystore.write_text(json.dumps(Account.encrypt(provider["privateKey"], password, kdf="pbkdf2", iterations=2)))
    env = {"RECONCILE_DEVNET_DIR": net["dir"], "DEMO_UPSTREAM_KEY": "k", "HOT_KEY": hot["privateKey"]}
    state = tmp_path / "state"
    args = ["delegate", str(path), "grant", "--keystore", str(keystore), "--state-dir", str(state)]

    code, shown = at_a_terminal(
        args, env, [(b"Password of the keystore", password.encode() + b"\n"), (b"Send the grant?", b"y\n")]
    )
    assert code == 0, shown
    assert "Password of the keystore" in shown and "granted provider, model, marketplace;" in shown
    assert password not in shown and provider["privateKey"][2:] not in shown  # the typed password is not echoed
    r = CliRunner().invoke(cli, ["delegate", str(path), "check", "--state-dir", str(state)], env=env)
    assert r.exit_code == 0, r.output


def test_revoke_is_said_in_words(net: dict[str, Any], tmp_path: Path) -> None:
    provider, hot = net["accounts"][3], net["accounts"][4]
    path = _desired(tmp_path, provider["address"], hot["address"])
    cold = tmp_path / "provider.key"
    cold.write_text(provider["privateKey"] + "\n")
    cold.chmod(0o600)
    env = {"RECONCILE_DEVNET_DIR": net["dir"], "DEMO_UPSTREAM_KEY": "k", "HOT_KEY": hot["privateKey"]}

    def delegate(*args: str) -> Any:
        return CliRunner().invoke(cli, ["delegate", str(path), *args, "--state-dir", str(tmp_path / "s")], env=env)

    r = delegate("grant", "--rights", "marketplace", "--yes", "--key-ref", f"file:{cold}")
    assert r.exit_code == 0 and "granted marketplace;" in r.output, r.output
    unkeyed = delegate("revoke", "--rights", "marketplace", "--yes")
    assert unkeyed.exit_code == 1 and "rights are revoked by the provider wallet" in unkeyed.stderr, unkeyed.output
    r = delegate("revoke", "--rights", "marketplace", "--yes", "--key-ref", f"file:{cold}")
    assert r.exit_code == 0 and "revoked marketplace;" in r.output, r.output
    again = delegate("revoke", "--rights", "marketplace", "--yes", "--key-ref", f"file:{cold}")
    assert again.exit_code == 0 and "nothing to revoke: marketplace already revoked" in again.output, again.output
    assert "revokeed" not in unkeyed.output + r.output + again.output


def test_a_piped_answer_never_confirms_a_grant(net: dict[str, Any], tmp_path: Path) -> None:
    """No terminal and no --yes: refused and said so, nothing sent (a `yes |` answers nothing), as `apply`."""
    provider, hot = net["accounts"][9], net["accounts"][2]
    path = _desired(tmp_path, provider["address"], hot["address"])
    cold = tmp_path / "provider.key"
    cold.write_text(provider["privateKey"] + "\n")
    cold.chmod(0o600)
    env = {"RECONCILE_DEVNET_DIR": net["dir"], "DEMO_UPSTREAM_KEY": "k", "HOT_KEY": hot["privateKey"]}
    args = ["delegate", str(path), "grant", "--key-ref", f"file:{cold}", "--state-dir", str(tmp_path / "s")]
    r = CliRunner().invoke(cli, args, env=env, input="y\n")
    assert r.exit_code == 1, r.output
    assert "no terminal to ask for confirmation" in r.stderr and "--yes" in r.stderr
    r = CliRunner().invoke(cli, ["delegate", str(path), "check", "--state-dir", str(tmp_path / "s")], env=env)
    assert r.exit_code == 2 and "missing: provider, model, marketplace;" in r.output, r.output
