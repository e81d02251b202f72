"""What the status devnet tests share: the desired state of a provider selling two chat models (chat-a with two
slots, chat-b) through one upstream and the forwarder's models-config, and the real `reconcile` command run in a
child process with a few variables added to the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from reconciler.devnet.local import Deployment, dev_accounts
from tests.support.fwd_helpers import ADMIN_TOKEN

PROVIDER = dev_accounts()[1]


def two_models_yaml(dep: Deployment, fwd: Path, upstream: str, admin_url: str | None, bid_a: str, bid_b: str) -> str:
    """The desired state; `bid_a` and `bid_b` are the lines under each model's `bid:` (indented six spaces), and
    the forwarder's admin API is declared only with `admin_url` (its token from $ADMIN)."""
    admin = f"  adminUrl: {admin_url}\n  adminToken: env:ADMIN\n" if admin_url else ""
    return (
        f"network:\n  chainId: {dep.chain_id}\n  diamond: '{dep.diamond}'\n  mor: '{dep.mor}'\n  rpcUrl: env:RPC\n"
        f"signer:\n  address: '{PROVIDER.address}'\n  privateKey: env:PROVIDER_KEY\n"
        f"provider:\n  address: '{PROVIDER.address}'\n  endpoint: 127.0.0.1:3333\n  stake: \"0.2 MOR\"\n"
        f"upstreams:\n  u:\n    baseUrl: {upstream}/v1\n    apiKey: env:UPSTREAM_KEY\n    resaleAllowed: true\n"
        "models:\n"
        '  - name: chat-a\n    upstream: u\n    upstreamModel: a-up\n    stake: "0.1 MOR"\n    concurrentSlots: 2\n'
        f"    bid:\n{bid_a}"
        '  - name: chat-b\n    upstream: u\n    upstreamModel: b-up\n    stake: "0.1 MOR"\n'
        f"    bid:\n{bid_b}"
        f"proxy:\n  modelsConfigPath: {fwd}\n{admin}"
        'policy:\n  maxSpendPerApply: "10 MOR"\n'
    )


def scene_env(rpc_url: str, **extra: str) -> dict[str, str]:
    """What the desired state's `env:` references read (the RPC node, the provider's key, the upstream's key),
    and `extra` ones (`CLIENT_TOKEN="c"`)."""
    return {"RPC": rpc_url, "PROVIDER_KEY": PROVIDER.private_key, "UPSTREAM_KEY": "k-up", **extra}


def admin_env(rpc_url: str) -> dict[str, str]:
    """`scene_env` with the forwarder's admin token as $ADMIN (what `adminToken: env:ADMIN` reads)."""
    return scene_env(rpc_url, ADMIN=ADMIN_TOKEN)


def apply_confirmed(env: dict[str, str], path: Path, state_dir: Path) -> None:
    """`reconcile apply` of the desired state at `path`, auto-approved; it must succeed."""
    done = reconcile(env, "apply", str(path), "--auto-approve", "--state-dir", str(state_dir))
    assert done.returncode == 0, done.stdout + done.stderr


def reconcile(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`reconcile ARGS` in a child process, with `env` over this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
