"""`reconcile plan` and `reconcile status` on a devnet send the forwarder's admin token only to a trusted host
(issue 26, "Why" row 2): the desired state points `proxy.adminUrl` at a recording server through a name that is
not loopback as written; nothing reaches it until the operator trusts that name (`--trust-host`,
`RECONCILE_TRUSTED_HOSTS`), and then the token does, so the refusal is the rule's doing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from reconciler.cli import cli
from tests.support.apply_helpers import example_in
from tests.support.recorder import loopback_alias, recording_server

TOKEN = "admin-token-that-must-stay-home"


def test_plan_and_status_send_the_admin_token_only_to_a_trusted_host(net: dict[str, Any], tmp_path: Path) -> None:
    alias = loopback_alias()
    env = {"RECONCILE_DEVNET_DIR": net["dir"], "DEMO_UPSTREAM_KEY": "upstream-key", "ADMIN_TOKEN": TOKEN}
    with recording_server() as recorder:
        path = example_in(tmp_path)
        text = path.read_text().replace(
            "proxy:\n", f"proxy:\n  adminUrl: http://{alias}:{recorder.port}\n  adminToken: env:ADMIN_TOKEN\n", 1
        )
        path.write_text(text)
        runner = CliRunner()
        r = runner.invoke(cli, ["plan", str(path)], env=env)
        assert r.exit_code == 0, r.output
        assert f"not checked: {alias} is not a trusted destination" in r.output
        r = runner.invoke(cli, ["status", str(path), "--format", "json"], env=env)
        assert r.exit_code == 0, r.output
        assert "is not a trusted destination" in r.output
        assert recorder.requests == []  # neither command sent anything, the token least of all

        r = runner.invoke(cli, ["plan", str(path), "--trust-host", alias], env=env)
        assert r.exit_code == 0, r.output
        assert "not a trusted destination" not in r.output
        assert recorder.requests == [("/admin/config", f"Bearer {TOKEN}")]
        r = runner.invoke(cli, ["status", str(path), "--format", "json"], env={**env, "RECONCILE_TRUSTED_HOSTS": alias})
        assert r.exit_code == 0, r.output
        assert json.loads(r.output)  # a document
        assert recorder.requests[-1] == ("/metrics", f"Bearer {TOKEN}")
