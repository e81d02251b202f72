"""A chain key file that group or others can read is refused where it is loaded, as ssh refuses such a key: the
signer's (apply, watch, claim) and the provider wallet's given with `--key-ref` (approve, delegate)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.chain.signer import SignerError, key_options, load_given_key, load_key
from reconciler.desired.references import parse_reference

KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil account 1


def key_file(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "provider.key"
    path.write_text(KEY + "\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o660, 0o604])
def test_a_key_file_readable_by_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path, mode)
    opts = key_options(f"file:{path}", None, None, tmp_path)
    assert opts is not None
    with pytest.raises(SignerError) as exc:
        load_given_key(opts, {}, None)
    assert f"{mode:04o}" in str(exc.value) and "chmod 600" in str(exc.value)
    assert KEY not in str(exc.value)


def test_a_key_file_only_its_owner_reads_is_used(tmp_path: Path) -> None:
    path = key_file(tmp_path, 0o600)
    assert load_key(parse_reference(f"file:{path}"), {}).address == "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
