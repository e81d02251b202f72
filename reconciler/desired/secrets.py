"""Where a desired state's secrets may come from: each serves one role, lives outside the repository, and a key file
is readable by its owner alone.

Why: the desired state is written by whoever opens a pull request. A reference (`env:`, `file:`) names where a
value is, so a pull request could point a field of one role at a secret of another (the RPC URL as the admin
token the plan sends, the signer key as an upstream key the forwarder sends to an upstream), or at a file it
committed itself (a symlink next to the YAML). Values are compared here only by digest and never shown; a
diagnostic names the fields and their references.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from reconciler.desired.references import Reference, resolve


class Role(StrEnum):
    """The role classes: a value may repeat within one (two upstreams on one account, the signer being the
    provider), never across two."""

    CHAIN = "chain"  # RPC URLs, the signer's key and keystore password, the provider wallet's key
    UPSTREAM = "upstream key"
    ADMIN = "forwarder admin token"
    CLIENT = "client token"
    ROUTER_ADMIN = "router admin auth"
    WEBHOOK = "webhook"
    PAGE = "status page token"  # the watcher's --http-token: whoever holds it reads the page


@dataclass(frozen=True)
class SecretUse:
    """One field that takes a secret: its dotted name (`upstreams.venice.apiKey`), role and reference."""

    field: str
    role: Role
    ref: Reference
    key: bool = False  # a chain key (signer, provider wallet): its file must be readable by its owner alone


_HEX_KEY = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def _digest(value: str) -> str:
    """What two values are compared by: a private key with or without 0x, in either case, is one key."""
    v = value.strip()
    if _HEX_KEY.match(v):
        v = v.lower().removeprefix("0x")
    return hashlib.sha256(v.encode("utf-8")).hexdigest()


def role_conflicts(uses: list[SecretUse], environ: Mapping[str, str] | None = None) -> list[tuple[SecretUse, str]]:
    """(use, message) for each field whose value another role's field also holds; values missing here are
    not compared (a CI plan without the signer's key cannot tell)."""
    first: dict[str, dict[Role, SecretUse]] = {}
    out: list[tuple[SecretUse, str]] = []
    for use in uses:
        value = resolve(use.ref, environ)
        if value is None:
            continue
        roles = first.setdefault(_digest(value), {})
        other = next((u for r, u in roles.items() if r is not use.role), None)
        if other is not None:
            out.append(
                (
                    use,
                    f"{use.field} ({use.ref}) holds the same value as {other.field} ({other.ref}): a secret serves "
                    f"one role, and this one is a {other.role} secret used as a {use.role} (value not shown)",
                )
            )
        roles.setdefault(use.role, use)
    return out


def first_conflicts(
    uses: list[SecretUse], environ: Mapping[str, str] | None = None
) -> list[tuple[SecretUse, SecretUse]]:
    """(use, other) once for each value held in two role classes: `use` is the first field (in the order given)
    that holds it in a second class, `other` the first that holds it in the first class. For a fleet, where
    one shared field repeats in every provider and would otherwise be reported once per provider."""
    first: dict[str, dict[Role, SecretUse]] = {}
    out: list[tuple[SecretUse, SecretUse]] = []
    for use in uses:
        value = resolve(use.ref, environ)
        if value is None:
            continue
        roles = first.setdefault(_digest(value), {})
        if use.role not in roles:
            if roles:
                out.append((use, next(iter(roles.values()))))
            roles[use.role] = use
    return out


def git_tree_of(path: Path) -> Path | None:
    """The git working tree holding `path` (the nearest folder with a `.git`, a folder or a worktree's file)."""
    for folder in (path, *path.parents):
        if (folder / ".git").exists():
            return folder
    return None


def file_problems(use: SecretUse, yaml_file: Path) -> list[tuple[bool, str]]:
    """(is_error, message) for a `file:` reference: inside the desired state's git tree (after symlinks), or a
    key file group or others may read (refused for a chain key as ssh refuses such a key; warned otherwise)."""
    if use.ref.kind != "file":
        return []
    out: list[tuple[bool, str]] = []
    target = Path(use.ref.target).resolve()
    tree = git_tree_of(yaml_file.resolve().parent)
    if tree is not None and target.is_relative_to(tree):
        out.append(
            (
                True,
                f"{use.ref} resolves to {target}, inside the git working tree {tree} that holds the desired state "
                "(tracked or ignored alike): secrets never live in the repository; keep it outside, mode 0600",
            )
        )
    mode = _mode(target)
    if mode is not None and mode & 0o077 and use.role in (Role.CHAIN, Role.UPSTREAM):
        if use.key:
            if (why := _key_mode_refusal(target, mode)) is not None:
                out.append((True, f"{use.ref} {why}"))
        elif use.role is Role.UPSTREAM and not _given_by_systemd(target, mode):
            out.append((False, f"{use.ref} is open to group or others (mode {mode:04o}); chmod 600 it"))
    return out


def _mode(path: Path) -> int | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else None


def key_file_refusal(ref: Reference) -> str | None:
    """Why a chain key's file must not be used (None: it may): group or others can read or write it, and it is
    not a credential systemd gave this service."""
    if ref.kind != "file":
        return None
    mode = _mode(Path(ref.target))
    if mode is None or not mode & 0o077:
        return None
    why = _key_mode_refusal(Path(ref.target).resolve(), mode)
    return None if why is None else f"the key file {ref.target} {why}"


def _key_mode_refusal(target: Path, mode: int) -> str | None:
    """The end of the refusal of a key file group or others may open (None: systemd's credential, accepted),
    with what to do: chmod it, or have systemd pass it as a credential."""
    if _given_by_systemd(target, mode):
        return None
    creds = _credentials_dir()
    inside = creds is not None and target.is_relative_to(creds)
    why = f"is open to group or others (mode {mode:04o}); chmod 600 it, as ssh requires"
    if inside:
        return (
            f"{why}. It is in $CREDENTIALS_DIRECTORY ({creds}) but not as systemd leaves a credential (read-only, "
            "read by no one but its owner and the service's user, in a folder closed to others): let systemd put "
            "it there with LoadCredential=NAME:PATH (or LoadCredentialEncrypted=) in the unit"
        )
    where = (
        f"file:{creds}/NAME" if creds is not None else "file:$CREDENTIALS_DIRECTORY/NAME (/run/credentials/UNIT/NAME)"
    )
    return (
        f"{why}; or, under systemd, pass it with LoadCredential=NAME:PATH (or LoadCredentialEncrypted=) in the "
        f"unit and refer to {where}: systemd's credentials are accepted as systemd lays them out"
    )


def _credentials_dir() -> Path | None:
    """The folder systemd gave this process its credentials in (`$CREDENTIALS_DIRECTORY`), if any: a property of
    the process, not of a desired state, so it is read from the process's own environment."""
    value = os.environ.get("CREDENTIALS_DIRECTORY", "")
    return Path(value).resolve() if value.startswith("/") else None


def _given_by_systemd(target: Path, mode: int) -> bool:
    """A file in this process's `$CREDENTIALS_DIRECTORY` laid out as systemd lays out a credential."""
    creds = _credentials_dir()
    return creds is not None and target.is_relative_to(creds) and _systemd_credential(target, creds, mode)


_ACL_XATTR = "system.posix_acl_access"
_ACL_USER, _ACL_GROUP_OBJ, _ACL_GROUP, _ACL_READ = 0x02, 0x04, 0x08, 4


def _systemd_credential(target: Path, creds: Path, mode: int) -> bool:
    """A key file as systemd leaves a credential for this service (systemd.exec(5), "Credentials"): in a folder
    closed to others, owned by root (systemd) or the service's user; the file read-only, owned so, mode 0400,
    or 0440 when the group bits are the mask of a POSIX ACL that lets only the service's user read besides the
    owner (systemd's `user:<service>:r`)."""
    me = os.getuid()
    try:
        folder, st = creds.stat(), target.stat()
    except OSError:
        return False
    if stat.S_IMODE(folder.st_mode) & 0o007 or folder.st_uid not in (0, me) or st.st_uid not in (0, me):
        return False
    if mode & ~0o440:  # written to, or opened by others: not systemd's
        return False
    return not mode & 0o040 or _acl_reads_only(target, me)


def _acl_reads_only(path: Path, uid: int) -> bool:
    """Whether the file has a POSIX ACL and it lets no one read but its owner and the user `uid` (no named
    group, no owning group, no other named user)."""
    getxattr = getattr(os, "getxattr", None)  # Linux only; elsewhere there is no systemd
    if getxattr is None:
        return False
    try:
        data = bytes(getxattr(path, _ACL_XATTR))
    except OSError:  # no ACL: the group bits are the group's
        return False
    if len(data) < 4 or (len(data) - 4) % 8:
        return False
    for offset in range(4, len(data), 8):
        tag, perm, who = struct.unpack_from("<HHI", data, offset)
        if perm & _ACL_READ and (tag in (_ACL_GROUP_OBJ, _ACL_GROUP) or (tag == _ACL_USER and who != uid)):
            return False
    return True


def flag_uses(
    key: Reference | None = None,
    password: Reference | None = None,
    webhook: Reference | None = None,
    page_token: Reference | None = None,
) -> tuple[SecretUse, ...]:
    """The secrets a command line names: the provider wallet's `--key-ref` and `--password-ref` (chain keys),
    the watcher's `--webhook` and `--http-token` (the status page's token)."""
    uses = [
        SecretUse("--key-ref", Role.CHAIN, key, key=True) if key else None,
        SecretUse("--password-ref", Role.CHAIN, password, key=True) if password else None,
        SecretUse("--webhook", Role.WEBHOOK, webhook) if webhook else None,
        SecretUse("--http-token", Role.PAGE, page_token) if page_token else None,
    ]
    return tuple(u for u in uses if u is not None)


def check_uses(
    uses: list[SecretUse],
    yaml_file: Callable[[SecretUse], Path],
    environ: Mapping[str, str] | None,
    error: Callable[[SecretUse, str], None],
    warn: Callable[[SecretUse, str], None],
    roles: bool = True,
) -> None:
    """Every rule of this module over the fields of one desired state, reported through `error` and `warn`
    (`roles=False`: all but the role rule, which a fleet checks over all its providers at once)."""
    for use in uses:
        for is_error, message in file_problems(use, yaml_file(use)):
            (error if is_error else warn)(use, message)
    for use, message in role_conflicts(uses, environ) if roles else []:
        error(use, message)
