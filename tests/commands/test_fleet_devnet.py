"""Issue 30 on a real devnet: three providers (anvil accounts 2, 3 and 4) in one fleet folder.

`apply --provider NAME` for each converges its own provider and nothing else (the others stay untouched on
chain, the ones applied before keep their bids); `status` on the fleet shows every provider in one table; a
fleet member's watcher keeps its own provider converged, its /metrics carry its name and its page links the
others; `apply --all-providers` is allowed here (a devnet) and has nothing left to do; `import` of the three
addresses with `--out` writes a fleet (refusing to overwrite) whose members, filled in, plan nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from web3 import Web3

from reconciler.chain.networks import resolve_network
from reconciler.chain.reader import ChainReader
from reconciler.cli import cli
from reconciler.desired.fleet import load_fleet
from reconciler.desired.modelsconfig import forwarder_file
from reconciler.pipeline import plan_for
from reconciler.status.board import Board
from reconciler.watch.loop import Watcher, WatchOptions
from reconciler.watch.metrics import WatchMetrics
from reconciler.watch.triggers import Trigger
from tests.commands.test_import_state_devnet import fill_in

NAMES = ("alpha", "beta", "gamma")
ACCOUNTS = {"alpha": 2, "beta": 3, "gamma": 4}

SHARED = """\
upstreams:
  local-stub:
    baseUrl: http://127.0.0.1:8099/v1
    apiKey: env:DEMO_UPSTREAM_KEY
    apiType: openai
    maxConcurrency: 6
    resaleAllowed: true
modelDefinitions:
  demo-chat:
    upstream: local-stub
    upstreamModel: llama-3.3-70b
    stake: "0.1 MOR"
    concurrentSlots: auto
    bid:
      pricePerSecond: "0.006 MOR"
policy:
  maxSpendPerApply: "2 MOR"
  bidChurn:
    minPriceChangePercent: 0
    minRepostIntervalSeconds: 0
    reason: a devnet test
"""


def _provider(net: dict[str, Any], name: str) -> str:
    address = net["accounts"][ACCOUNTS[name]]["address"]
    price = "\n    bid: {pricePerSecond: '0.007 MOR'}" if name == "gamma" else ""
    return f"""\
network:
  preset: devnet
  devnetDir: "{net["dir"]}"
signer:
  address: "{address}"
  privateKey: env:KEY_{name.upper()}
provider:
  address: "{address}"
  endpoint: {name}.example:3333
  stake: "0.2 MOR"
proxy:
  modelsConfigPath: forwarder-models.json
models:
  - use: demo-chat{price}
"""


def _fleet(net: dict[str, Any], root: Path) -> Path:
    root.mkdir()
    (root / "fleet.yaml").write_text(
        "providers:\n  - name: alpha\n    statusUrl: https://alpha.example.org/\n  - name: beta\n  - name: gamma\n"
    )
    (root / "shared.yaml").write_text(SHARED)
    for name in NAMES:
        (root / name).mkdir()
        (root / name / "provider.yaml").write_text(_provider(net, name))
    return root


def _env(net: dict[str, Any]) -> dict[str, str]:
    keys = {f"KEY_{n.upper()}": net["accounts"][i]["privateKey"] for n, i in ACCOUNTS.items()}
    return {"DEMO_UPSTREAM_KEY": "demo-upstream-key", "UPSTREAM_1_API_KEY": "demo-upstream-key", **keys}


def _on_chain(net: dict[str, Any], root: Path) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """Each member as the chain holds it: registered, and its active bids' ids."""
    fleet = load_fleet(root, _env(net))
    out = {}
    for m in fleet.members:
        chain = ChainReader.connect(resolve_network(m.desired.network, {})).observe(m.desired)
        p = chain.provider
        registered = p is not None and p.created_at != 0 and not p.is_deleted
        out[m.name] = (registered, tuple(sorted(b.bid_id for b in chain.active_bids())))
    return out


def _pending(net: dict[str, Any], root: Path, state: Path) -> dict[str, int]:
    fleet = load_fleet(root, _env(net))
    return {m.name: len(plan_for(m.desired, _env(net), state_dir=state)[1].pending) for m in fleet.members}


def _cli(net: dict[str, Any], *args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env={**_env(net), "NO_COLOR": "1"})


def test_each_host_converges_its_own_provider_and_nothing_else(net: dict[str, Any], tmp_path: Path) -> None:
    root = _fleet(net, tmp_path / "fleet")
    state = tmp_path / "state"
    assert _on_chain(net, root) == {n: (False, ()) for n in NAMES}

    applied: dict[str, tuple[bool, tuple[str, ...]]] = {}
    for name in NAMES:
        r = _cli(net, "apply", str(root), "--provider", name, "--yes", "--state-dir", str(state))
        assert r.exit_code == 0, r.output
        assert "converged" in r.output
        seen = _on_chain(net, root)
        registered, bids = seen[name]
        assert registered and len(bids) == 1, (name, seen)
        applied[name] = seen[name]
        for other in NAMES:
            if other in applied:
                assert seen[other] == applied[other], f"{other} moved when {name} was applied"
            else:
                assert seen[other] == (False, ()), f"{other} written when {name} was applied"
        assert _pending(net, root, state)[name] == 0

    r = _cli(net, "status", str(root))
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == "fleet of 3 provider(s)"
    rows = {ln.split()[0]: ln for ln in lines[2:5]}
    assert list(rows) == list(NAMES)
    assert all("0.2 MOR" in row and row.rstrip().endswith("no") for row in rows.values()), lines

    # beta's host: its watcher keeps beta converged; its metrics and page say which provider it is
    lines_out: list[str] = []
    metrics = WatchMetrics(auto_apply=True, provider="beta")
    board = Board(state)
    opts = WatchOptions(
        path=root,
        state_dir=state,
        auto_apply=True,
        environ=_env(net),
        out=lines_out.append,
        metrics=metrics,
        board=board,
        provider="beta",
    )
    line = Watcher(opts).run([Trigger("start")])
    assert line["result"] in ("no-changes", "converged"), line
    assert line["provider"] == Web3.to_checksum_address(net["accounts"][ACCOUNTS["beta"]]["address"])
    assert 'reconcile_watch_runs_total{provider="beta",result="' in metrics.render()
    doc = board.doc()
    assert doc["fleet"] == {
        "provider": "beta",
        "others": [{"name": "alpha", "url": "https://alpha.example.org/"}, {"name": "gamma", "url": None}],
    }

    r = _cli(net, "apply", str(root), "--all-providers", "--yes", "--state-dir", str(state))
    assert r.exit_code == 0, r.output
    assert [ln for ln in r.output.splitlines() if ln.startswith("provider ")] == [f"provider {n}:" for n in NAMES]
    assert r.output.count("converged") == 3

    # import the three providers as a fleet: filled in, every member plans nothing
    out = tmp_path / "imported"
    addresses = [net["accounts"][ACCOUNTS[n]]["address"] for n in NAMES]
    args = ["import", "--network", "devnet", "--devnet-dir", net["dir"], "--out", str(out)]
    for a in addresses:
        args += ["--provider", a]
    r = _cli(net, *args)
    assert r.exit_code == 0, r.output
    assert "shared model definitions: demo-chat" in r.stderr
    again = _cli(net, *args)
    assert again.exit_code == 1 and "exists and is not an empty folder: nothing was overwritten" in again.output
    for path in out.rglob("*.yaml"):
        path.write_text(fill_in(path.read_text(), Path("forwarder-models.json")))
    imported = load_fleet(out, _env(net))
    assert imported.names() == ("provider-1", "provider-2", "provider-3")
    for m in imported.members:
        (m.folder / "forwarder-models.json").write_text(json.dumps(forwarder_file(m.desired, None, environ=_env(net))))
        _observed, plan = plan_for(m.desired, _env(net), state_dir=tmp_path / "import-state")
        assert plan.pending == (), (m.name, [a.id for a in plan.pending])
