"""Names registered on chain by hand, holding terminal escapes, bidi overrides and Markdown, reach nobody's
terminal, CI log or pull request live: every command's piped output (plan, apply, status, import) (where click strips only colour) shows them
escaped, and the Markdown keeps them in code spans (issue 26, "Why" 3)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml as pyyaml

from tests.commands.test_import_state_devnet import MOR, Wallet
from tests.support.apply_helpers import example_in
from tests.support.hostile_text import MARKDOWN_NAME, TERMINAL_NAME, inert, outside_code_spans


def _reconcile(net: dict[str, Any], work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    key = net["accounts"][1]["privateKey"]
    env = {**os.environ, "RECONCILE_DEVNET_DIR": net["dir"], "DEMO_UPSTREAM_KEY": "k", "DEVNET_PROVIDER_KEY": key}
    env.pop("NO_COLOR", None)
    return subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *args], capture_output=True, text=True, env=env, cwd=work, timeout=120
    )


def test_every_command_shows_hostile_names_from_chain_escaped(net: dict[str, Any], tmp_path: Path) -> None:
    p = Wallet(net, 1, tmp_path / "setup.jsonl")
    p.do(
        p.calls.approve("a", 10 * MOR), p.calls.provider_register("p", p.address, 2 * MOR // 10, "127.0.0.1:3333", "x")
    )
    p.model(TERMINAL_NAME, ["llm", TERMINAL_NAME[:60]])
    p.model(MARKDOWN_NAME, ["llm"])
    yaml = example_in(tmp_path)
    runs = {
        "plan": _reconcile(net, tmp_path, "plan", str(yaml)),
        "markdown": _reconcile(net, tmp_path, "plan", str(yaml), "--format", "markdown"),
        "status": _reconcile(net, tmp_path, "status", str(yaml)),
        "html": _reconcile(net, tmp_path, "status", str(yaml), "--format", "html"),
        "import": _reconcile(net, tmp_path, "import", "--network", "devnet", "--provider", p.address),
        "apply": _reconcile(net, tmp_path, "apply", str(yaml), "--yes", "--state-dir", str(tmp_path / "state")),
    }
    assert runs["apply"].returncode == 0, runs["apply"].stderr
    for what, r in runs.items():
        assert r.returncode in (0, 1), (what, r.stderr)
        assert inert(r.stdout) and inert(r.stderr), (what, r.stdout, r.stderr)
        if what in (
            "plan",
            "markdown",
            "html",
            "apply",
        ):  # status lists a model the desired state lacks only with sessions
            assert "pwn\\x1b[2J" in r.stdout, (what, r.stdout)
    assert "? model.deregister undeclared model pwn\\x1b[2J\\x1b]0;pwned\\x07" in runs["plan"].stdout
    for line in runs["markdown"].stdout.splitlines():
        live = outside_code_spans(line)
        assert not any(f in live for f in ("@mention", "](https://", "![x]", "evil.example")), line
        assert not line.lstrip("> ").startswith("#### No"), line
    imported = pyyaml.safe_load(runs["import"].stdout)
    names = [m["name"] for m in imported["models"]]
    assert len(names) == 2 and all(inert(n) for n in names) and "# cleaned: the on-chain name" in runs["import"].stdout
