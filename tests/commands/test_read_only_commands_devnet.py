"""`status` and `import` only read: the registry's model index (a cache, reconciler/chain/model_index.py) is used
from ./.reconcile when it is there, and written only where the operator says (`--state-dir`)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from reconciler import DEFAULT_STATE_DIR
from reconciler.chain.model_index import index_path
from reconciler.cli import cli
from reconciler.devnet.anvil import Anvil
from reconciler.devnet.local import Deployment, dev_accounts

PROVIDER = dev_accounts()[1]


def _yaml(dep: Deployment, fwd: Path) -> str:
    return (
        f"network:\n  chainId: {dep.chain_id}\n  diamond: '{dep.diamond}'\n  mor: '{dep.mor}'\n  rpcUrl: env:RPC\n"
        f"signer:\n  address: '{PROVIDER.address}'\n  privateKey: env:PROVIDER_KEY\n"
        f"provider:\n  address: '{PROVIDER.address}'\n  endpoint: 127.0.0.1:3333\n  stake: \"0.2 MOR\"\n"
        "upstreams:\n  u:\n    baseUrl: http://127.0.0.1:9/v1\n    apiKey: env:UPSTREAM_KEY\n    resaleAllowed: true\n"
        'models:\n  - name: chat-a\n    upstream: u\n    upstreamModel: a-up\n    stake: "0.1 MOR"\n'
        "    bid:\n      pricePerSecond: 6000000000000000\n"
        f'proxy:\n  modelsConfigPath: {fwd}\npolicy:\n  maxSpendPerApply: "10 MOR"\n'
    )


def test_status_and_import_read_the_model_index_and_write_it_only_to_a_state_dir_given(
    anvil: Anvil, deployed: Deployment, tmp_path: Path
) -> None:
    path = tmp_path / "desired.yaml"
    path.write_text(_yaml(deployed, tmp_path / "fwd.json"))
    env = {"RPC": anvil.rpc_url, "PROVIDER_KEY": PROVIDER.private_key, "UPSTREAM_KEY": "k-up"}
    given = tmp_path / "state"
    r = CliRunner().invoke(cli, ["apply", str(path), "--yes", "--state-dir", str(given)], env=env)
    assert r.exit_code == 0, r.output
    cache = index_path(given, deployed.chain_id, deployed.diamond)
    assert cache.is_file()
    network = ["--chain-id", str(deployed.chain_id), "--diamond", deployed.diamond, "--mor", deployed.mor]
    imp = ["import", *network, "--rpc-url", "env:RPC", "--provider", PROVIDER.address]
    default = index_path(DEFAULT_STATE_DIR, deployed.chain_id, deployed.diamond)  # relative: this test's cwd

    # not asked: nothing written (each test runs in an empty folder of its own)
    for args in (["status", str(path)], ["status", str(path), "--format", "json"], imp):
        r = CliRunner().invoke(cli, args, env=env)
        assert r.exit_code == 0, r.output
        assert not DEFAULT_STATE_DIR.exists(), args
    # a cache already in ./.reconcile is used as it is, not rewritten
    default.parent.mkdir(parents=True)
    default.write_text(cache.read_text())
    known = default.read_text()
    for args in (["status", str(path), "--format", "json"], imp):
        r = CliRunner().invoke(cli, args, env=env)
        assert r.exit_code == 0, r.output
        assert default.read_text() == known and sorted(p.name for p in default.parent.iterdir()) == ["models.json"]
    assert json.loads(known)["ids"]
    # asked: an explicit --state-dir is kept up to date if it exists (a look never creates a state dir)
    r = CliRunner().invoke(cli, ["status", str(path), "--state-dir", str(tmp_path / "none")], env=env)
    assert r.exit_code == 0 and not (tmp_path / "none").exists(), r.output
    for args, folder in (
        (["status", str(path), "--state-dir", str(tmp_path / "st-status")], tmp_path / "st-status"),
        ([*imp, "--state-dir", str(tmp_path / "st-import")], tmp_path / "st-import"),
    ):
        folder.mkdir()
        r = CliRunner().invoke(cli, args, env=env)
        assert r.exit_code == 0, r.output
        written = index_path(folder, deployed.chain_id, deployed.diamond)
        assert json.loads(written.read_text())["ids"] == json.loads(known)["ids"], args
