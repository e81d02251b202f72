"""Issue 30, row 4: one writer per provider, one watcher per host. On a fleet folder `apply` and `watch` write for
the one provider `--provider NAME` names; several at once are refused (`apply --all-providers` only on a devnet);
`--provider` on a single-provider folder is refused. Every refusal comes before anything is read from a chain
(the RPC URL here leads nowhere) or written; `status` on a fleet shows every member in one table.

No chain: the refusals and the table's rendering. The devnet side is tests/commands/test_fleet_devnet.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from reconciler.cli import cli
from tests.desired.test_fleet import ENV, PROVIDERS, ROOT, make_fleet, provider_yaml, three


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    if args[0] == "watch":  # a watcher that does not refuse runs until stopped: a process with a deadline
        proc = subprocess.run(
            [str(Path(sys.executable).parent / "reconcile"), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **ENV, **(env or {})},
        )
        return proc.returncode, proc.stdout + proc.stderr
    r = CliRunner().invoke(cli, list(args), env={**ENV, **(env or {})})
    return r.exit_code, r.output


def test_apply_on_a_fleet_writes_for_one_named_provider_only(tmp_path: Path) -> None:
    root = three(tmp_path / "fleet")
    state = str(tmp_path / "state")
    code, out = run("apply", str(root), "--yes", "--state-dir", state)
    assert code == 1
    assert "is a fleet of 3 providers (alpha, beta, gamma): name the one this host writes for with --provider" in out
    code, out = run("apply", str(root), "--yes", "--state-dir", state, "--provider", "alpha", "--provider", "beta")
    assert code == 1 and "one writer per provider: give one --provider (not alpha, beta)" in out
    code, out = run("apply", str(root), "--yes", "--state-dir", state, "--provider", "delta")
    assert code == 1 and "no provider named 'delta' in this fleet (providers: alpha, beta, gamma)" in out
    code, out = run("apply", str(root), "--yes", "--state-dir", state, "--all-providers")
    assert code == 1
    assert "only a devnet allows; not a devnet: alpha (base-sepolia), beta (base-sepolia), gamma (base-sepolia)" in out
    assert not (tmp_path / "state").exists(), "refused before any writer's folder was made"


def test_provider_on_a_single_provider_folder_is_refused(tmp_path: Path) -> None:
    single = ROOT / "examples" / "desired-state" / "devnet.yaml"
    for command in ("apply", "watch", "status"):
        code, out = run(command, str(single), "--provider", "alpha", "--state-dir", str(tmp_path / "state"))
        assert code == 1, (command, out)
        assert "holds one provider" in out, (command, out)


def test_watch_on_a_fleet_needs_this_hosts_provider_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    root = three(tmp_path / "fleet")
    state = str(tmp_path / "state")
    code, out = run("watch", str(root), "--state-dir", state)
    assert code == 1 and "is a fleet (alpha, beta, gamma): name the provider this host's watcher" in out
    code, out = run("watch", str(root), "--state-dir", state, "--provider", "delta")
    assert code == 1 and "no provider named 'delta' in this fleet (providers: alpha, beta, gamma)" in out
    code, out = run("watch", str(root), "--state-dir", state, "--provider", "alpha", "--provider", "beta")
    assert code == 1 and "one writer per provider" in out


def test_status_on_a_fleet_reads_every_member_and_shows_one_that_cannot_be_read_in_its_row(tmp_path: Path) -> None:
    """The RPC URL leads nowhere: every member's row says so, and the exit code is 1; a page is one member's."""
    root = make_fleet(
        tmp_path / "fleet", {n: provider_yaml(n, "- use: qwen\n  concurrentSlots: 1\n") for n in PROVIDERS}
    )
    code, out = run("status", str(root), env={"RPC_URL": "http://127.0.0.1:9/"})
    assert code == 1, out
    lines = out.splitlines()
    assert lines[0] == "fleet of 3 provider(s)"
    assert lines[1].split()[:3] == ["provider", "network", "address"]
    assert [ln.split()[0] for ln in lines[2:5]] == ["alpha", "beta", "gamma"]
    assert all(ln.rstrip().endswith("unreadable") for ln in lines[2:5])
    assert sum(1 for ln in lines if ln.startswith(("alpha: error:", "beta: error:", "gamma: error:"))) == 3
    code, out = run("status", str(root), "--format", "html")
    assert code == 1 and "a status page is one provider's: give one --provider NAME" in out
