"""The watcher's runs called one by one (in process, real devnet): a failing apply backs off, stops after N
failures until the files change, alerts once; policy.autoClaim claims after a converged run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.devnet import local as devnet
from reconciler.devnet.anvil import free_port
from reconciler.watch.backoff import Backoff
from reconciler.watch.loop import Watcher, WatchOptions
from reconciler.watch.triggers import Trigger
from tests.support.apply_helpers import DevnetCase, example_in


def _watcher(case: DevnetCase, backoff: Backoff, state: str) -> tuple[Watcher, list[str]]:
    lines: list[str] = []
    opts = WatchOptions(
        path=case.yaml,
        state_dir=case.work / state,
        auto_apply=True,
        environ=case.env(DELEGATE_KEY=case.key(2)),
        out=lines.append,
        backoff=backoff,
    )
    return Watcher(opts), lines


def _run(w: Watcher, kind: str = "timer") -> dict[str, Any]:
    try:
        return w.run([Trigger(kind)])
    finally:
        w.files.stop()


def test_failures_back_off_then_stop_until_the_files_change_and_auto_claim(tmp_path: Path) -> None:
    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = devnet.up(d, free_port())
    try:
        yaml = example_in(work)
        case = DevnetCase(info=info, dir=d, work=work, yaml=yaml, state=tmp_path / "state")
        good = yaml.read_text()
        delegate = info["accounts"][2]["address"]
        yaml.write_text(  # a delegate without rights or allowance: apply refuses every time
            good.replace(
                '  address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"\n  privateKey: env:DEVNET_PROVIDER_KEY',
                f'  address: "{delegate}"\n  privateKey: env:DELEGATE_KEY',
            )
        )
        w, lines = _watcher(case, Backoff(base=0.0, cap=0.0, max_failures=3), "s1")
        runs = [_run(w) for _ in range(4)]
        assert [r["result"] for r in runs[:3]] == ["failed"] * 3 and {r["mode"] for r in runs[:3]} == {"apply"}
        assert "refusing to apply" in runs[0]["error"]
        assert runs[3]["mode"] == "alert-only" and runs[3]["result"] == "drift-reported"
        assert runs[3]["reasons"] == ["stopped after repeated failures until the desired state changes"]
        assert w.opts.metrics.alerts["failure"] == 1  # the same failure is alerted once
        assert len(lines) == 4
        yaml.write_text(yaml.read_text() + "# touched\n")
        r = _run(w, "file")
        assert r["mode"] == "apply" and r["result"] == "failed"  # a new desired state is tried again

        slow, _ = _watcher(case, Backoff(base=3600.0, max_failures=5), "s2")
        assert _run(slow)["result"] == "failed"
        r = _run(slow)
        assert r["mode"] == "alert-only" and r["reasons"] == ["backing off after a failure"]

        yaml.write_text(good.replace("policy:\n", "policy:\n  autoClaim: true\n"))
        ok, _ = _watcher(case, Backoff(), "s3")
        r = _run(ok)
        assert r["result"] == "converged" and r["claimedWei"] == "0"  # no ended session yet: nothing to claim
        assert _run(ok)["result"] == "no-changes"
    finally:
        devnet.down(d)
