"""A watcher apply that fails part way (a real devnet whose blocks stop: the receipts time out, a TxTimeout, not
an ApplyError): its run line still lists what it attempted and what is in flight, and the rolling-day tally is
settled to it, so the run that finishes the job does not count the same spend twice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.devnet import local as devnet
from reconciler.watch.ledger import SpendLedger
from reconciler.watch.loop import Watcher, WatchOptions
from reconciler.watch.triggers import Trigger
from tests.support.apply_helpers import DevnetCase, example_in
from tests.support.ports import free_port

pytestmark = pytest.mark.devnet


def test_a_failed_apply_reports_its_actions_and_settles_the_day_tally(tmp_path: Path) -> None:
    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = devnet.up(d, free_port())
    try:
        case = DevnetCase(info=info, dir=d, work=work, yaml=example_in(work), state=tmp_path / "state")
        lines: list[str] = []
        opts = WatchOptions(path=case.yaml, state_dir=case.state, auto_apply=True, environ=case.env(), out=lines.append)
        w = Watcher(opts)
        try:
            case.w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
            w.opts.receipt_timeout = 2.0  # nothing is mined: the first wait for a receipt gives up
            first = w.run([Trigger("start")])
            assert first["result"] == "failed" and first["error"].startswith("TxTimeout"), first
            assert first["actionsDone"] == [] and first["actionsInFlight"] == ["mor.approve"], first
            assert set(first["actionsInFlight"]) < set(first["actions"])  # the rest were never reached
            assert len(first["txHashes"]) == len(first["actionsInFlight"])

            ledger = SpendLedger(case.state / f"31337-{case.provider.lower()}" / "spend.jsonl")
            entries = ledger.entries()
            assert len(entries) == 1 and entries[0].settled_wei is not None  # settled to what is in flight
            reserved, in_flight = entries[0].wei, entries[0].settled_wei
            assert in_flight < reserved and ledger.spent_last_day() == in_flight  # was: reserved

            case.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
            case.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            w.opts.receipt_timeout = 60.0
            w.state = w.state.resume("lifted by the test")[0]  # skip the backoff, not what is tested
            second = w.run([Trigger("timer")])
            assert second["result"] == "converged", second
            assert not set(second["actions"]) & set(first["actionsInFlight"])  # they were mined meanwhile
            # each action of the first plan was paid once: in flight in the first run, applied in the second
            assert ledger.spent_last_day() == reserved
            assert [json.loads(x).get("settles") is not None for x in ledger.path.read_text().splitlines()] == [
                False,
                True,
                False,
            ]  # the second run spent what it reserved: nothing to settle
        finally:
            w.files.stop()
        assert [json.loads(x)["result"] for x in lines] == ["failed", "converged"]
    finally:
        devnet.down(d)


def test_a_manual_apply_counts_in_the_days_spend_of_its_state_dir(tmp_path: Path) -> None:
    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = devnet.up(d, free_port())
    try:
        case = DevnetCase(info=info, dir=d, work=work, yaml=example_in(work), state=tmp_path / "state")
        before = case.mor_balance()
        r = case.reconcile("apply", str(case.yaml), "--auto-approve", "--state-dir", str(case.state))
        assert r.returncode == 0, r.stdout + r.stderr
        spent = before - case.mor_balance()  # fees and stakes left the provider's wallet
        assert spent > 0
        ledger = SpendLedger(case.state / f"31337-{case.provider.lower()}" / "spend.jsonl")
        assert ledger.spent_last_day() == spent
        assert [e.what.split(":")[0] for e in ledger.entries()] == ["reconcile apply"]
    finally:
        devnet.down(d)
