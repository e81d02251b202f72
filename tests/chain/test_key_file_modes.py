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


def _acl(path: Path, readers: tuple[int, ...]) -> None:
    """A POSIX ACL as systemd sets on a credential (owner r, `user:<uid>:r` for each reader, group and others
    nothing); the group bits of the mode become the ACL's mask (0440)."""
    import os
    import struct

    none = 0xFFFFFFFF
    entries = [(0x01, 4, none), *((0x02, 4, uid) for uid in readers), (0x04, 0, none), (0x10, 4, none), (0x20, 0, none)]
    data = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries)
    try:
        os.setxattr(path, "system.posix_acl_access", data)
    except (OSError, AttributeError) as exc:  # a filesystem without POSIX ACLs
        pytest.skip(f"no POSIX ACLs here: {exc}")


def _credential(creds: Path, name: str, mode: int, readers: tuple[int, ...] = (), dir_mode: int = 0o500) -> Path:
    """A credential as systemd lays it out in $CREDENTIALS_DIRECTORY: the file read-only, the folder too."""
    creds.mkdir(exist_ok=True)
    creds.chmod(0o700)
    path = creds / name
    path.write_text(KEY + "\n")
    path.chmod(mode)
    if readers:
        _acl(path, readers)
    creds.chmod(dir_mode)
    return path


def test_systemds_credentials_are_accepted_and_what_others_may_read_is_refused_saying_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from reconciler.desired.secrets import Role, SecretUse, file_problems

    def refusal(path: Path) -> str | None:
        use = SecretUse("signer.privateKey", Role.CHAIN, parse_reference(f"file:{path}"), key=True)
        problems = file_problems(use, tmp_path / "elsewhere" / "desired.yaml")
        try:
            load_key(parse_reference(f"file:{path}"), {})
        except SignerError as exc:
            assert problems and problems[0][0] and KEY not in str(exc)  # the loader and validate agree
            return str(exc)
        assert problems == []
        return None

    me = os.getuid()
    creds = tmp_path / "run-credentials" / "morpheus-reconcile-watch.service"
    creds.parent.mkdir()
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    try:
        # systemd's two layouts: root's file 0400 with an ACL for the service's user (mode shows 0440), or the
        # file given to the service's user (0400) where the filesystem has no ACLs
        acl = _credential(creds, "signer_key", 0o400, readers=(me,))
        assert f"{os.stat(acl).st_mode & 0o777:04o}" == "0440"
        assert refusal(acl) is None
        assert refusal(_credential(creds, "owned_key", 0o400)) is None
        upstream = SecretUse("upstreams.u.apiKey", Role.UPSTREAM, parse_reference(f"file:{acl}"))
        assert file_problems(upstream, tmp_path / "elsewhere" / "desired.yaml") == []  # no warning either
        # not as systemd leaves them: refused, saying what to do
        for path, mode in (
            (_credential(creds, "plain_group_key", 0o440), "0440"),  # group bits without an ACL: the group reads
            (_credential(creds, "other_user_key", 0o400, readers=(me, me + 4242)), "0440"),  # another user reads
            (_credential(creds, "world_key", 0o444), "0444"),
        ):
            why = refusal(path)
            assert why is not None and mode in why and "chmod 600" in why, why
            assert "CREDENTIALS_DIRECTORY" in why and "LoadCredential=" in why, why
        open_folder = tmp_path / "run-credentials" / "open.service"
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(open_folder))
        why = refusal(_credential(open_folder, "signer_key", 0o400, readers=(me,), dir_mode=0o555))
        assert why is not None and "0440" in why, why
        # outside the credentials folder: the rule as before, and the way to a credential
        monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
        why = refusal(key_file(tmp_path, 0o640))
        assert why is not None and "0640" in why and "LoadCredential=" in why, why
        monkeypatch.delenv("CREDENTIALS_DIRECTORY")
        why = refusal(acl)  # no credentials folder given to this process: an ACL'd 0440 file is refused
        assert why is not None and "0440" in why and "LoadCredential=" in why, why
    finally:
        for folder in (creds, tmp_path / "run-credentials" / "open.service"):
            if folder.exists():
                folder.chmod(0o700)
