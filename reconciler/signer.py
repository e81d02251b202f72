"""The signer's key, loaded from the desired state's reference only where a transaction must be signed.

`signer.privateKey` (env:/file: reference) or `signer.keystore` + `signer.password`. The key never appears
in a message; a key that does not belong to `signer.address` is refused before anything is signed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from reconciler.desired.model import SignerSpec
from reconciler.references import resolve


class SignerError(RuntimeError):
    """The signer's key cannot be loaded (the message names the reference, never a value)."""


def load_account(spec: SignerSpec, environ: Mapping[str, str] | None = None) -> LocalAccount:
    if spec.private_key is not None:
        value = resolve(spec.private_key, environ)
        if value is None:
            raise SignerError(f"signer.privateKey: the reference {spec.private_key} has no value here")
        try:
            account: LocalAccount = Account.from_key(value.strip())
        except Exception:
            raise SignerError(f"signer.privateKey: {spec.private_key} does not hold a valid private key") from None
    elif spec.keystore is not None and spec.password is not None:
        password = resolve(spec.password, environ)
        if password is None:
            raise SignerError(f"signer.password: the reference {spec.password} has no value here")
        try:
            key = Account.decrypt(json.loads(Path(spec.keystore).read_text()), password)
        except (OSError, ValueError):
            raise SignerError(f"signer.keystore {spec.keystore}: cannot be read or decrypted") from None
        account = Account.from_key(key)
    else:
        raise SignerError("signer: neither privateKey nor keystore is set; a key is needed to send transactions")
    if account.address.lower() != spec.address.lower():
        raise SignerError(f"the signer's key is not the key of signer.address {spec.address}")
    return account
