"""The signing key, loaded only where a transaction is signed: from an env/file reference or a keystore.

The desired state names where the key is and which address it must be; a key for another address is
refused (a wrong key must never act). Messages never contain the key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from reconciler import DesiredStateInvalid
from reconciler.desired.model import SignerSpec
from reconciler.desired.references import Reference, resolve


class SignerError(DesiredStateInvalid):
    """The key is missing, unreadable, or belongs to another address."""


def load_key(ref: Reference, environ: Mapping[str, str] | None = None) -> LocalAccount:
    value = resolve(ref, environ)
    if value is None:
        raise SignerError(f"the private key reference {ref} has no value here")
    try:
        return Account.from_key(value.strip())
    except (ValueError, TypeError):
        raise SignerError(f"the value of {ref} is not a valid private key (value not shown)") from None


def load_signer(spec: SignerSpec, environ: Mapping[str, str] | None = None) -> LocalAccount:
    if spec.private_key is not None:
        account = load_key(spec.private_key, environ)
    elif spec.keystore is not None:
        if spec.password is None:
            raise SignerError("signer.keystore needs signer.password (a reference to the keystore password)")
        password = resolve(spec.password, environ)
        if password is None:
            raise SignerError(f"the keystore password reference {spec.password} has no value here")
        try:
            keyfile = json.loads(Path(spec.keystore).read_text())
            account = Account.from_key(Account.decrypt(keyfile, password))
        except (OSError, ValueError, KeyError) as exc:
            raise SignerError(f"cannot decrypt the keystore {spec.keystore} ({type(exc).__name__})") from None
    else:
        raise SignerError("signer: give privateKey (env:/file: reference) or keystore + password")
    if account.address.lower() != spec.address.lower():
        raise SignerError(
            f"the signer key is for {account.address}, but signer.address is {spec.address}; refusing to act"
        )
    return account
