"""The signing key, loaded only where a transaction is signed: from an env/file reference or a keystore.

The desired state names where the signer's key is and which address it must be; a key for another address is
refused (a wrong key must never act). The provider wallet's key for `approve` and `delegate` comes from their
command line instead (`KeyOptions`), decrypted by the same function. Messages never contain a key or a password.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from reconciler import DesiredStateInvalid
from reconciler.desired.model import SignerSpec
from reconciler.desired.references import BadReference, Reference, parse_reference, resolve
from reconciler.desired.secrets import key_file_refusal


class SignerError(DesiredStateInvalid):
    """The key is missing, unreadable, or belongs to another address."""


def load_key(ref: Reference, environ: Mapping[str, str] | None = None) -> LocalAccount:
    """The account of a key reference; a key file that group or others can open is refused, as ssh refuses one."""
    if (refusal := key_file_refusal(ref)) is not None:
        raise SignerError(refusal)
    value = resolve(ref, environ)
    if value is None:
        raise SignerError(f"the private key reference {ref} has no value here")
    try:
        return Account.from_key(value.strip())
    except (ValueError, TypeError):
        raise SignerError(f"the value of {ref} is not a valid private key (value not shown)") from None


def decrypt_keystore(keystore: str | Path, password: str) -> LocalAccount:
    """The account of an encrypted JSON keystore: one place for the signer's keystore and the provider wallet's
    (`approve`/`delegate --keystore`), so both fail the same way, never showing the password or the key."""
    try:
        keyfile = json.loads(Path(keystore).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SignerError(f"cannot read the keystore {keystore} ({exc.strerror or type(exc).__name__})") from None
    except ValueError:
        raise SignerError(f"the keystore {keystore} is not JSON") from None
    try:
        return Account.from_key(Account.decrypt(keyfile, password))
    except ValueError as exc:
        why = "wrong password" if "MAC mismatch" in str(exc) else type(exc).__name__
        raise SignerError(f"cannot decrypt the keystore {keystore} ({why}; password not shown)") from None
    except (KeyError, TypeError) as exc:
        raise SignerError(f"cannot decrypt the keystore {keystore} (not a keystore: {type(exc).__name__})") from None


def load_keystore(keystore: str | Path, password: Reference, environ: Mapping[str, str] | None = None) -> LocalAccount:
    """A keystore whose password is behind a reference (never a literal: it would stay in YAML or shell history)."""
    value = resolve(password, environ)
    if value is None:
        raise SignerError(f"the keystore password reference {password} has no value here")
    return decrypt_keystore(keystore, value)


def load_signer(spec: SignerSpec, environ: Mapping[str, str] | None = None) -> LocalAccount:
    if spec.private_key is not None:
        account = load_key(spec.private_key, environ)
    elif spec.keystore is not None:
        if spec.password is None:
            raise SignerError("signer.keystore needs signer.password (a reference to the keystore password)")
        account = load_keystore(spec.keystore, spec.password, environ)
    else:
        raise SignerError("signer: give privateKey (env:/file: reference) or keystore + password")
    if account.address.lower() != spec.address.lower():
        raise SignerError(
            f"the signer key is for {account.address}, but signer.address is {spec.address}; refusing to act"
        )
    return account


@dataclass(frozen=True)
class KeyOptions:
    """Where the command line says the provider wallet's key is: a key reference, or a keystore with a password
    reference or none (then asked for at a terminal)."""

    key: Reference | None = None
    keystore: Path | None = None
    password: Reference | None = None


def key_options(
    key_ref: str | None, keystore: Path | None, password_ref: str | None, base_dir: Path
) -> KeyOptions | None:
    """The checked `--key-ref`/`--keystore`/`--password-ref` (None: no key given), before anything is read; two
    ways at once are refused rather than one silently winning."""
    if key_ref is not None and keystore is not None:
        raise SignerError("give the provider wallet's key one way: --key-ref or --keystore, not both")
    if password_ref is not None and keystore is None:
        raise SignerError("--password-ref is the password of a --keystore: give --keystore PATH too")
    try:
        key = None if key_ref is None else parse_reference(key_ref, base_dir)
    except BadReference as exc:
        raise SignerError(f"--key-ref: {exc}") from None
    try:
        password = None if password_ref is None else parse_reference(password_ref, base_dir)
    except BadReference as exc:
        raise SignerError(f"--password-ref: {exc}") from None
    if key is None and keystore is None:
        return None
    where = None if keystore is None else base_dir / keystore.expanduser()
    return KeyOptions(key=key, keystore=where, password=password)


def load_given_key(
    opts: KeyOptions, environ: Mapping[str, str] | None, ask: Callable[[Path], str] | None
) -> LocalAccount:
    """The key the options name. A keystore without a password reference needs `ask` (the shell's hidden prompt,
    None without a terminal: a script would wait forever on a prompt nobody answers)."""
    if opts.key is not None:
        return load_key(opts.key, environ)
    assert opts.keystore is not None
    if opts.password is not None:
        return load_keystore(opts.keystore, opts.password, environ)
    if ask is None:
        raise SignerError(
            f"--keystore {opts.keystore}: no terminal to ask for its password; give --password-ref env:NAME or "
            "file:PATH"
        )
    return decrypt_keystore(opts.keystore, ask(opts.keystore))
