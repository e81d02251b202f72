"""The allowance policy keeps a delegate-mode watcher going (issue 21): after the provider wallet's first
`reconcile approve`, a watcher with --auto-apply reposts a changed price under a standing `policy.allowance`,
and under `exact` it stops with `blocked-manual` (run line, metric, webhook), raised once per cause."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.cli import cli
from reconciler.devnet import unlocked
from reconciler.watch.loop import Watcher, WatchOptions
from reconciler.watch.metrics import WatchMetrics
from reconciler.watch.notify import Webhook
from reconciler.watch.triggers import Trigger
from tests.support.watch_helpers import active_bids, webhook_receiver

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "desired-state" / "devnet.yaml"
EXAMPLE_PROVIDER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def _grant_rights(net: dict[str, Any], provider: str, delegate: str) -> None:
    """The provider wallet grants the hot key its delegate.xyz rights, and no MOR allowance at all."""
    w3 = Web3(Web3.HTTPProvider(net["rpcUrl"]))
    registry = w3.eth.contract(address=net["delegateRegistry"], abi=load_artifact("DelegateRegistry").abi)
    for right in ("provider", "model", "marketplace"):
        rights = Web3.keccak(text=f"delegation.rules.{right}")
        unlocked.send(w3, registry.functions.delegateContract(delegate, net["diamond"], rights, True), provider)


def _desired(net: dict[str, Any], work: Path, provider: str, signer: str, allowance: str) -> Path:
    text = EXAMPLE.read_text().replace("../../.demo/forwarder-models.json", str(work / "fwd.json"))
    text = text.replace(
        f'address: "{EXAMPLE_PROVIDER}"   # same as the signer', f'address: "{provider}"   # delegating'
    )
    text = text.replace(f'address: "{EXAMPLE_PROVIDER}"', f'address: "{signer}"')
    text = text.replace("privateKey: env:DEVNET_PROVIDER_KEY", "privateKey: env:HOT_KEY")
    text = text.replace('  maxSpendPerApply: "2 MOR"\n', f'  maxSpendPerApply: "2 MOR"\n  allowance: {allowance}\n')
    path = work / "desired.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("allowance", "accounts"), [('"5 MOR"', (3, 4)), ("exact", (5, 6))])
def test_watcher_reposts_after_the_first_approval_only_with_a_standing_allowance(
    net: dict[str, Any], tmp_path: Path, allowance: str, accounts: tuple[int, int]
) -> None:
    provider, hot = (net["accounts"][i] for i in accounts)
    _grant_rights(net, provider["address"], hot["address"])
    path = _desired(net, tmp_path, provider["address"], hot["address"], allowance)
    cold = tmp_path / "cold.key"  # the provider wallet's key, in a file: never on a command line
    cold.write_text(provider["privateKey"] + "\n")
    cold.chmod(0o600)
    state = tmp_path / "state"
    env = {"RECONCILE_DEVNET_DIR": net["dir"], "DEMO_UPSTREAM_KEY": "k", "HOT_KEY": hot["privateKey"]}
    w3 = Web3(Web3.HTTPProvider(net["rpcUrl"]))
    with webhook_receiver() as hooks:
        metrics = WatchMetrics()
        opts = WatchOptions(
            path=path,
            state_dir=state,
            auto_apply=True,
            webhook=Webhook(hooks.url),
            metrics=metrics,
            environ=env,
            out=lambda _line: None,
        )
        watcher = Watcher(opts)
        try:
            first = watcher.run([Trigger("start")])  # nothing approved yet: blocked, alerted, nothing sent
            assert first["result"] == "blocked-manual" and "mor.approve" in first["error"], first.get("error")
            assert "reconcile_watch_blocked_manual 1" in metrics.render()
            again = watcher.run([Trigger("timer")])
            assert again["result"] == "blocked-manual"
            assert len(hooks.named("blocked-manual")) == 1  # once per cause, not once per run

            r = CliRunner().invoke(
                cli,
                ["approve", str(path), "--state-dir", str(state), "--auto-approve", "--key-ref", f"file:{cold}"],
                env=env,
            )
            assert r.exit_code == 0, r.output
            assert provider["privateKey"][2:] not in r.output

            applied = watcher.run([Trigger("timer")])
            assert applied["result"] == "converged", applied
            assert "reconcile_watch_blocked_manual 0" in metrics.render()
            before = active_bids(w3, net, provider["address"])

            text = path.read_text()
            path.write_text(text.replace('pricePerSecond: "0.006 MOR"', 'pricePerSecond: "0.007 MOR"'))
            changed = watcher.run([Trigger("file", "desired.yaml")])
            after = active_bids(w3, net, provider["address"])
            if allowance == "exact":  # the first approve was used up: the repost waits for a person
                assert changed["result"] == "blocked-manual", changed
                assert "reconcile approve" in changed["error"]
                assert after == before
                assert len(hooks.named("blocked-manual")) == 2  # a new cause after the converged run
                event = hooks.named("blocked-manual")[-1]
                assert event["details"]["result"] == "blocked-manual"
                assert "reconcile_watch_blocked_manual 1" in metrics.render()
            else:  # the standing allowance covers the repost's fee: no manual step
                assert changed["result"] == "converged", changed
                assert any(a.startswith("bid.post:") for a in changed["actions"])
                prices = {p for _b, p in after.values()}
                assert 7 * 10**15 in prices and 6 * 10**15 not in prices
                assert len(hooks.named("blocked-manual")) == 1
        finally:
            watcher.files.stop()
    assert json.dumps(hooks.events).find(hot["privateKey"][2:]) == -1
