"""Secrets go only where the operator decided (issue 26, "Why" row 2): a value serves one role, a secret file
lives outside the repository, and a key file is readable by its owner alone.

Run through `reconcile validate` (the check a pull request's CI and a pre-commit hook make), with real files,
symlinks and a real git working tree in a temporary folder outside this repository.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from reconciler.cli import cli

PROVIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
SIGNER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"  # anvil account 1
RPC_URL = "https://base-sepolia.example-rpc.com/v2/rpc-api-key-do-not-leak"


def state_yaml(api_key: str, admin_token: str = "env:FORWARDER_ADMIN_TOKEN", signer_key: str = "env:SIGNER_KEY") -> str:
    return f"""
network:
  preset: base-sepolia
  rpcUrl: env:MORPHEUS_RPC_URL
signer:
  address: "{PROVIDER}"
  privateKey: {signer_key}
provider:
  address: "{PROVIDER}"
  endpoint: provider.example.com:3333
  stake: "0.2 MOR"
upstreams:
  venice:
    baseUrl: https://api.venice.ai/api/v1
    apiKey: {api_key}
    resaleAllowed: true
  venice-backup:
    baseUrl: https://backup.venice.ai/api/v1
    apiKey: env:VENICE_API_KEY
    resaleAllowed: true
models:
  - name: llama
    upstream: venice
    upstreamModel: llama-3.3-70b
    stake: "0.1 MOR"
    bid:
      pricePerSecond: "0.01 MOR"
proxy:
  modelsConfigPath: /tmp/never-written/forwarder.json
  adminUrl: https://collector.example.net:9000
  adminToken: {admin_token}
policy:
  maxSpendPerApply: "10 MOR"
"""


ENV = {
    "MORPHEUS_RPC_URL": RPC_URL,
    "SIGNER_KEY": SIGNER_KEY,
    "VENICE_API_KEY": "venice-key-1",
    "FORWARDER_ADMIN_TOKEN": "admin-token-1",
}


def validate(path: Path, **env: str) -> Result:
    return CliRunner().invoke(cli, ["validate", str(path)], env={**ENV, **env}, catch_exceptions=False)


def git_tree(root: Path) -> Path:
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


def secret_file(path: Path, value: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n")
    path.chmod(mode)
    return path


def test_the_rpc_url_as_the_admin_token_is_refused_naming_both_fields(tmp_path: Path) -> None:
    path = tmp_path / "state.yaml"
    path.write_text(state_yaml("env:VENICE_API_KEY", admin_token="env:MORPHEUS_RPC_URL"))
    r = validate(path)
    assert r.exit_code == 1, r.output
    assert "proxy.adminToken" in r.output and "network.rpcUrl" in r.output
    assert RPC_URL not in r.output and "rpc-api-key" not in r.output


def test_a_symlink_to_the_signer_key_as_an_upstream_key_is_refused(tmp_path: Path) -> None:
    """The attack as reported: a symlink committed next to the YAML points at the signer key (mode 0644)."""
    key = secret_file(tmp_path / "operator" / "signer.key", SIGNER_KEY, mode=0o644)
    repo = git_tree(tmp_path / "desired-state-repo")
    (repo / "innocent-looking-upstream.key").symlink_to(key)
    path = repo / "state.yaml"
    path.write_text(state_yaml("file:innocent-looking-upstream.key", signer_key=f"file:{key}"))
    r = validate(path)
    assert r.exit_code == 1, r.output
    assert "upstreams.venice.apiKey" in r.output and "signer.privateKey" in r.output
    assert "same value" in r.output
    assert "0644" in r.output  # the world-readable signer key is refused too
    assert SIGNER_KEY not in r.output and SIGNER_KEY[2:] not in r.output


def test_the_signer_key_as_an_upstream_key_by_env_is_refused() -> None:
    path = Path("state.yaml")
    path.write_text(state_yaml("env:SIGNER_KEY"))
    r = validate(path)
    assert r.exit_code == 1, r.output
    assert "upstreams.venice.apiKey" in r.output and "signer.privateKey" in r.output
    assert SIGNER_KEY not in r.output


def test_a_value_may_repeat_within_its_role(tmp_path: Path) -> None:
    """Two upstreams on one account share a key; that is no error."""
    path = tmp_path / "state.yaml"
    path.write_text(state_yaml("env:VENICE_API_KEY"))
    r = validate(path)
    assert r.exit_code == 0, r.output


def test_a_secret_file_inside_the_git_tree_is_refused_tracked_or_ignored(tmp_path: Path) -> None:
    repo = git_tree(tmp_path / "repo")
    (repo / ".gitignore").write_text("keys/\n")
    secret_file(repo / "keys" / "upstream.key", "venice-key-in-repo")
    (repo / "desired").mkdir()
    path = repo / "desired" / "state.yaml"
    path.write_text(state_yaml("file:../keys/upstream.key"))
    r = validate(path)
    assert r.exit_code == 1, r.output
    assert "upstreams.venice.apiKey" in r.output and "git working tree" in r.output
    assert "venice-key-in-repo" not in r.output


def test_a_symlink_outside_pointing_into_the_git_tree_is_refused(tmp_path: Path) -> None:
    repo = git_tree(tmp_path / "repo")
    secret_file(repo / "admin.token", "admin-token-in-repo")
    outside = tmp_path / "elsewhere" / "admin.token"
    outside.parent.mkdir()
    outside.symlink_to(repo / "admin.token")
    path = repo / "state.yaml"
    path.write_text(state_yaml("env:VENICE_API_KEY", admin_token=f"file:{outside}"))
    r = validate(path)
    assert r.exit_code == 1, r.output
    assert "proxy.adminToken" in r.output and "git working tree" in r.output


def test_secret_files_outside_any_git_tree_pass(tmp_path: Path) -> None:
    key = secret_file(tmp_path / "secrets" / "signer.key", SIGNER_KEY)
    up = secret_file(tmp_path / "secrets" / "upstream.key", "venice-key-2")
    path = tmp_path / "desired" / "state.yaml"
    path.parent.mkdir()
    path.write_text(state_yaml(f"file:{up}", signer_key=f"file:{key}"))
    r = validate(path)
    assert r.exit_code == 0, r.output
    assert "warning:" not in r.output and "0 warning(s)" in r.output


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_signer_key_file_readable_by_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    key = secret_file(tmp_path / "secrets" / "signer.key", SIGNER_KEY, mode=mode)
    path = tmp_path / "state.yaml"
    path.write_text(state_yaml("env:VENICE_API_KEY", signer_key=f"file:{key}"))
    r = validate(path)
    assert r.exit_code == 1, r.output
    assert "signer.privateKey" in r.output and f"{mode:04o}" in r.output


def test_an_upstream_key_file_readable_by_others_warns(tmp_path: Path) -> None:
    up = secret_file(tmp_path / "secrets" / "upstream.key", "venice-key-3", mode=0o644)
    path = tmp_path / "state.yaml"
    path.write_text(state_yaml(f"file:{up}"))
    r = validate(path)
    assert r.exit_code == 0, r.output
    assert "upstreams.venice.apiKey: warning:" in r.output in r.output and "0644" in r.output
    assert os.stat(up).st_mode & 0o777 == 0o644  # reported, not changed


def test_the_provider_key_flag_and_the_webhook_flag_are_held_to_the_same_rule(tmp_path: Path) -> None:
    """`approve/delegate --key-ref` and `watch --webhook` name secrets outside the YAML: the same roles apply."""
    from reconciler.desired.diagnostics import ValidationFailed
    from reconciler.desired.loader import load_desired
    from reconciler.desired.references import Reference
    from reconciler.desired.secrets import flag_uses

    path = tmp_path / "state.yaml"
    path.write_text(state_yaml("env:VENICE_API_KEY"))
    provider_key = secret_file(tmp_path / "secrets" / "provider.key", "venice-key-1")
    with pytest.raises(ValidationFailed) as exc:
        load_desired(path, ENV, flag_uses(key=Reference("file", str(provider_key))))
    text = "\n".join(map(str, exc.value.diagnostics))
    assert "upstreams.venice.apiKey" in text and "--key-ref" in text and "venice-key-1" not in text
    with pytest.raises(ValidationFailed) as exc:
        load_desired(path, ENV, flag_uses(webhook=Reference("env", "FORWARDER_ADMIN_TOKEN")))
    assert "--webhook" in "\n".join(map(str, exc.value.diagnostics))
    # the signer being the provider: one chain key in two chain fields is fine
    load_desired(path, ENV, flag_uses(key=Reference("env", "SIGNER_KEY")))


def test_the_watchers_page_token_is_a_role_of_its_own(tmp_path: Path) -> None:
    """`watch --http-token` guards the status page: an upstream key, a chain key or the forwarder's admin token
    given as the page's token is refused naming both fields, never the value."""
    from reconciler.desired.diagnostics import ValidationFailed
    from reconciler.desired.loader import load_desired
    from reconciler.desired.references import Reference
    from reconciler.desired.secrets import flag_uses

    path = tmp_path / "state.yaml"
    path.write_text(state_yaml("env:VENICE_API_KEY"))
    for ref, field, value in (
        ("VENICE_API_KEY", "upstreams.venice.apiKey", "venice-key-1"),
        ("SIGNER_KEY", "signer.privateKey", SIGNER_KEY),
        ("FORWARDER_ADMIN_TOKEN", "proxy.adminToken", "admin-token-1"),
    ):
        with pytest.raises(ValidationFailed) as exc:
            load_desired(path, ENV, flag_uses(page_token=Reference("env", ref)))
        text = "\n".join(map(str, exc.value.diagnostics))
        assert "--http-token" in text and field in text and "status page token" in text, text
        assert value not in text and value[2:] not in text
    token = secret_file(tmp_path / "secrets" / "page.token", "a-page-token-of-its-own-0123456789")
    load_desired(path, ENV, flag_uses(page_token=Reference("file", str(token))))  # a value of its own: fine
