"""The provider wallet's key from an encrypted keystore (`approve`/`delegate --keystore`), without a chain: the
options are checked before anything is read, a wrong password or file is one clear line that never shows the
password or the key, the signer's keystore decrypts through the same function, and the password is asked for
(hidden) only at a terminal. The end-to-end approve with a keystore is in test_approve_devnet.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account

from reconciler.chain.signer import KeyOptions, SignerError, decrypt_keystore, key_options, load_given_key, load_signer
from reconciler.cli import cli
from reconciler.desired.model import SignerSpec
from reconciler.desired.references import Reference

KEY = "0x" + "4c" * 32
PASSWORD = "correct horse battery staple"


def _keystore(tmp_path: Path, key: str = KEY, password: str = PASSWORD) -> Path:
    """A real keystore, with a cheap KDF so the test stays fast (operators' keystores use scrypt)."""
    path = tmp_path / "provider.json"
    path.write_text(json.dumps(Account.encrypt(key, password, kdf="pbkdf2", iterations=2)))
    return path


def _no_secret(text: str) -> None:
    assert PASSWORD not in text and KEY[2:] not in text


def test_options_are_one_way_and_references_only(tmp_path: Path) -> None:
    assert key_options(None, None, None, tmp_path) is None
    with pytest.raises(SignerError, match="--key-ref or --keystore, not both"):
        key_options("env:K", Path("k.json"), "env:P", tmp_path)
    with pytest.raises(SignerError, match="give --keystore PATH too"):
        key_options(None, None, "env:P", tmp_path)
    with pytest.raises(SignerError, match="--password-ref: must be a reference") as exc:
        key_options(None, Path("k.json"), PASSWORD, tmp_path)
    _no_secret(str(exc.value))
    opts = key_options(None, Path("k.json"), "file:pw.txt", tmp_path)
    assert opts == KeyOptions(keystore=tmp_path / "k.json", password=Reference("file", str(tmp_path / "pw.txt")))


@pytest.mark.parametrize("verb", [["approve"], ["delegate"]])
def test_both_ways_at_once_is_refused_before_anything_is_read(verb: list[str], tmp_path: Path) -> None:
    """Exit 1 like every desired-state error, before the (here missing) desired state or a chain is touched."""
    args = [*verb, str(tmp_path / "missing.yaml"), *(["grant"] if verb == ["delegate"] else [])]
    r = CliRunner().invoke(cli, [*args, "--key-ref", "env:K", "--keystore", "k.json", "--password-ref", "env:P"])
    assert r.exit_code == 1 and r.stderr.strip().splitlines() == [
        "error: give the provider wallet's key one way: --key-ref or --keystore, not both"
    ]
    r = CliRunner().invoke(cli, [*args, "--password-ref", "env:P"])
    assert r.exit_code == 1 and "give --keystore PATH too" in r.stderr


def test_keystore_errors_are_one_clear_line_without_secrets(tmp_path: Path) -> None:
    path = _keystore(tmp_path)
    assert decrypt_keystore(path, PASSWORD).address == Account.from_key(KEY).address
    with pytest.raises(SignerError, match=r"cannot decrypt the keystore .*provider\.json \(wrong password") as exc:
        decrypt_keystore(path, "not it")
    _no_secret(str(exc.value))
    with pytest.raises(SignerError, match="cannot read the keystore"):
        decrypt_keystore(tmp_path / "absent.json", PASSWORD)
    (tmp_path / "bad.json").write_text("not json")
    with pytest.raises(SignerError, match="is not JSON"):
        decrypt_keystore(tmp_path / "bad.json", PASSWORD)
    (tmp_path / "empty.json").write_text("{}")
    with pytest.raises(SignerError, match="not a keystore"):
        decrypt_keystore(tmp_path / "empty.json", PASSWORD)
    opts = KeyOptions(keystore=path, password=Reference("env", "PW"))
    with pytest.raises(SignerError, match="env:PW has no value here"):
        load_given_key(opts, {}, None)
    assert load_given_key(opts, {"PW": PASSWORD}, None).key.hex() == KEY[2:]


def test_the_signer_keystore_decrypts_through_the_same_function(tmp_path: Path) -> None:
    address = Account.from_key(KEY).address
    spec = SignerSpec(address=address, keystore=str(_keystore(tmp_path)), password=Reference("env", "PW"))
    assert load_signer(spec, {"PW": PASSWORD}).address == address
    with pytest.raises(SignerError, match="wrong password"):
        load_signer(spec, {"PW": "nope"})
    other = SignerSpec(
        address=Account.from_key("0x" + "11" * 32).address, keystore=spec.keystore, password=spec.password
    )
    with pytest.raises(SignerError, match="refusing to act"):
        load_signer(other, {"PW": PASSWORD})


def test_no_password_reference_and_no_terminal_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SignerError, match="no terminal to ask for its password"):
        load_given_key(KeyOptions(keystore=_keystore(tmp_path)), {}, None)
    asked: list[Path] = []
    account = load_given_key(KeyOptions(keystore=tmp_path / "provider.json"), {}, lambda k: asked.append(k) or PASSWORD)
    assert account.address == Account.from_key(KEY).address and asked == [tmp_path / "provider.json"]
