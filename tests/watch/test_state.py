"""The watcher's state transitions driven directly, without threads, a chain or a forwarder: backoff and the stop
after failures, another writer and the stop it causes, resume, suspension, the rolling-day budget's refusal, alert
de-duplication, and the run line's keys as a run's steps fill them in."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from reconciler.chain.journal import TxRecord
from reconciler.plan.model import Action, ActionKind, Cost, ManualStep, ModelRef
from reconciler.watch.backoff import Backoff
from reconciler.watch.gate import Gate
from reconciler.watch.gitsync import PullResult
from reconciler.watch.ledger import DAY_SECONDS, SoFar, SpendLedger, so_far
from reconciler.watch.record import RunFindings, RunRecord
from reconciler.watch.state import (
    Alert,
    Applied,
    BlockedManual,
    BudgetExceeded,
    Failed,
    InvalidDesired,
    Reported,
    Verdict,
    WatchState,
    carried_on_warning,
    git_blocked_alert,
    invalid_alert,
    invalid_error,
    stops_on_invalid,
)

MOR = 10**18
ACTIONS = ("bid.post:0xaa",)


def _gate_reasons(s: WatchState, now: float, **kw: bool) -> list[str]:
    return s.gate(auto_apply=True, policy_suspend=False, switch_suspend=False, now=now, **kw).reasons()


def _applied(converged: bool = True, applied: bool = True) -> Applied:
    return Applied(
        actions=ACTIONS,
        applied=applied,
        converged=converged,
        still_pending=() if converged else ACTIONS,
        txs=1 if applied else 0,
        spent_wei=3 * MOR // 10 if applied else 0,
        notes=(),
        summary="1 transaction(s) sent",
    )


def _posted(s: WatchState, alerts: tuple[Alert, ...]) -> tuple[WatchState, list[str]]:
    out = []
    for a in alerts:
        s, post = s.notice(a)
        if post:
            out.append(a.event)
    return s, out


def test_failed_applies_back_off_then_stop_until_the_desired_state_changes() -> None:
    s = WatchState(backoff=Backoff(base=10, cap=20, max_failures=3)).desired_loaded("v1")
    assert s.gate(auto_apply=True, policy_suspend=False, switch_suspend=False, now=0).mode == "apply"

    s, v = s.settle(Failed("ApplyError: refusing to apply", applying=True), now=0)
    assert v.result == "failed" and v.error == "ApplyError: refusing to apply"
    assert [a.event for a in v.alerts] == ["failure"]
    assert _gate_reasons(s, now=5) == ["backing off after a failure"]
    assert _gate_reasons(s, now=10) == []  # the first delay is over

    s, v = s.settle(_applied(converged=False), now=10)
    assert v.result == "not-converged" and v.error == "still pending after apply: bid.post:0xaa"
    assert s.backoff.failures == 2 and _gate_reasons(s, now=25) == ["backing off after a failure"]
    s, _v = s.settle(Failed("TxError: reverted", applying=True), now=30)
    stopped = ["stopped after repeated failures until the desired state changes"]
    assert _gate_reasons(s, now=10_000) == stopped
    assert _gate_reasons(s.desired_loaded("v1"), now=10_000) == stopped  # the same files: still stopped
    assert _gate_reasons(s.desired_loaded("v2"), now=10_000) == []  # an edit is tried again

    # a failed read while only reporting does not back off; a converged apply resets the backoff
    s2 = WatchState().desired_loaded("v1")
    s2, v = s2.settle(Failed("RpcError: timeout", applying=False), now=0)
    assert v.result == "failed" and s2.backoff == Backoff()
    s3, v = s.desired_loaded("v2").settle(_applied(), now=10_000)
    assert v.result == "converged" and s3.backoff.failures == 0 and [a.event for a in v.alerts] == ["applied"]
    assert s.settle(_applied(applied=False), now=0)[1].result == "no-changes"


def test_the_same_failure_is_posted_once_until_a_run_converges() -> None:
    s = WatchState().desired_loaded("v1")
    posted: list[str] = []
    for _ in range(3):
        s, v = s.settle(Failed("ApplyError: no", applying=True), now=0)
        s, out = _posted(s, v.alerts)
        posted += out
    assert posted == ["failure"]
    s, v = s.settle(Failed("ApplyError: another", applying=True), now=0)
    assert _posted(s, v.alerts)[1] == ["failure"]  # a different cause is posted
    s, v = s.settle(_applied(), now=0)
    s, out = _posted(s, v.alerts)
    assert out == ["applied"] and _posted(s, v.alerts)[1] == ["applied"]  # every applied run is posted
    s, v = s.settle(Failed("ApplyError: another", applying=True), now=0)
    assert _posted(s, v.alerts)[1] == ["failure"]  # converging cleared it


def test_another_writer_stops_auto_apply_once_until_resume() -> None:
    s, alert = WatchState().nonce_seen(5, [])  # the first run: the chain's nonce is the baseline
    assert alert is None and s.known_nonce == 5 and not s.conflict
    s, alert = s.nonce_seen(7, [5, 6])  # our own journal sent 5 and 6
    assert alert is None and not s.conflict and s.known_nonce == 7

    s, alert = s.nonce_seen(9, [5, 6])  # 7 and 8 came from elsewhere
    assert s.conflict and alert is not None and alert.event == "writer-conflict" and alert.key == "9"
    assert "up to 6" in alert.summary and "--resume" in alert.summary
    gate = s.gate(auto_apply=True, policy_suspend=False, switch_suspend=False, now=0)
    assert gate.mode == "alert-only" and not gate.suspended
    assert any("another writer" in r for r in gate.reasons())
    s, again = s.nonce_seen(10, [])
    assert again is None and s.conflict  # alerted once, stays stopped

    s, resumed = s.resume("token-1")
    assert resumed and not s.conflict and _gate_reasons(s, now=0) == []
    assert s.resume("token-1") == (s, False)  # the same token read again is no new resume
    s, alert = s.nonce_seen(10, [])
    assert alert is None  # the nonces seen meanwhile are the baseline now


def test_resume_also_lifts_the_stop_after_failures() -> None:
    s = WatchState(backoff=Backoff(base=3600, max_failures=1), resume_token="").desired_loaded("v1")
    s, _v = s.settle(Failed("ApplyError: no", applying=True), now=0)
    assert _gate_reasons(s, now=0) == ["stopped after repeated failures until the desired state changes"]
    s, resumed = s.resume("t")
    assert resumed and _gate_reasons(s, now=0) == [] and s.backoff.failures == 0


def test_suspended_runs_only_report_and_say_why() -> None:
    s = WatchState().desired_loaded("v1")
    by_policy = s.gate(auto_apply=True, policy_suspend=True, switch_suspend=False, now=0)
    by_switch = s.gate(auto_apply=True, policy_suspend=False, switch_suspend=True, now=0)
    no_flag = s.gate(auto_apply=False, policy_suspend=False, switch_suspend=False, now=0)
    assert by_policy.mode == by_switch.mode == no_flag.mode == "alert-only"
    assert by_policy.suspended and by_switch.suspended and not no_flag.suspended
    assert by_switch.reasons() == ["suspended by `reconcile watch --suspend`"]

    s, v = s.settle(Reported(ACTIONS, (), tuple(by_switch.reasons())), now=0)
    assert v.result == "drift-reported" and v.error is None
    (drift,) = v.alerts
    assert drift.event == "drift" and drift.key == "bid.post:0xaa"
    assert drift.summary == "1 action(s) pending, not applied (suspended by `reconcile watch --suspend`)"
    s, out = _posted(s, v.alerts)
    assert out == ["drift"] and _posted(s, v.alerts)[1] == []  # the same drift is posted once
    s, v = s.settle(Reported((), (), ()), now=0)
    assert v.result == "no-changes" and "drift" not in s.alerted


def test_budget_refusal_asks_the_ledger_and_does_not_back_off(tmp_path: Path) -> None:
    ledger = SpendLedger(tmp_path / "spend.jsonl")
    t0 = 1_000_000.0
    assert ledger.reserve(MOR, 2 * MOR, "plan 5 action(s)", now=t0) is None
    assert ledger.reserve(0, 2 * MOR, "proxy only", now=t0) is None  # costs nothing: always allowed
    assert ledger.reserve(MOR, 2 * MOR, "plan 1 action(s)", now=t0 + 1) is None  # exactly at the limit
    refusal = ledger.reserve(3 * MOR // 10, 2 * MOR, "plan 1 action(s)", now=t0 + 2)
    assert refusal is not None and "maxSpendPerDay" in refusal
    assert ledger.spent_last_day(now=t0 + 2) == 2 * MOR  # a refused plan reserves nothing
    assert ledger.reserve(3 * MOR // 10, None, "no limit", now=t0 + 3) is None
    assert ledger.spent_last_day(now=t0 + 3) == 2 * MOR + 3 * MOR // 10  # still tallied

    s = WatchState().desired_loaded("v1")
    after, v = s.settle(BudgetExceeded(ACTIONS, refusal), now=0)
    assert v.result == "budget-exceeded" and v.error == refusal
    assert [(a.event, a.summary, a.key) for a in v.alerts] == [("failure", refusal, refusal[:40])]
    assert after.backoff == s.backoff and _gate_reasons(after, now=0) == []  # nothing was tried: no backoff


def test_invalid_desired_state_and_other_alerts() -> None:
    assert stops_on_invalid(["timer"], have_last_good=False)
    assert stops_on_invalid(["chain", "file"], have_last_good=True)
    assert not stops_on_invalid(["chain", "timer"], have_last_good=True)  # the last good state stays in force
    s = WatchState()
    alert = invalid_alert([f"d.yaml:{i}: bad" for i in range(30)], "fp1")
    assert alert.key == "fp1" and len(alert.extra["errors"]) == 20 and "30 error(s)" in alert.summary
    s, out = _posted(s, (alert, alert))
    assert out == ["invalid-desired-state"]
    assert s.settle(InvalidDesired("invalid desired state: d.yaml:1: bad"), now=0)[1] == Verdict(
        "invalid-desired-state", "invalid desired state: d.yaml:1: bad"
    )
    s = s.desired_loaded("v1")
    assert _posted(s, (alert,))[1] == ["invalid-desired-state"]  # fixed, then broken the same way again

    s, low = s.funds_seen(["signer native coin 1 wei < policy.alerts.minSignerEth 2 wei"])
    assert low is not None and low.key == "signer"
    s, out = _posted(s, (low, low))
    assert out == ["low-funds"]
    s, none = s.funds_seen([])
    assert none is None and _posted(s, (low,))[1] == ["low-funds"]  # recovered, then low again

    blocked = git_blocked_alert(PullResult("diverged", "a", "a", "local a is not an ancestor"))
    assert (blocked.event, blocked.key) == ("git-blocked", "local a is not an ancestor")


def test_the_run_line_keeps_its_keys() -> None:
    converged = RunRecord(
        ts=1.5,
        trigger=("file",),
        trigger_detail=("desired.yaml",),
        provider="0x70",
        block=20,
        writer_conflict=False,
        mode="apply",
        suspended=False,
        actions=ACTIONS,
        txs=1,
        mor_spent_wei=3 * MOR // 10,
        result="converged",
        alerts=("applied",),
        duration_ms=128,
        commit="3f2a",
    )
    assert converged.to_json() == {
        "event": "run",
        "ts": 1.5,
        "trigger": ["file"],
        "triggerDetail": ["desired.yaml"],
        "mode": "apply",
        "suspended": False,
        "provider": "0x70",
        "block": 20,
        "writerConflict": False,
        "actions": ["bid.post:0xaa"],
        "txs": 1,
        "result": "converged",
        "morSpentWei": "300000000000000000",
        "alerts": ["applied"],
        "durationMs": 128,
        "commit": "3f2a",
    }
    assert converged.details() == {
        "trigger": ["file"],
        "mode": "apply",
        "suspended": False,
        "actions": ["bid.post:0xaa"],
        "result": "converged",
        "provider": "0x70",
        "block": 20,
        "commit": "3f2a",
    }
    invalid = RunRecord(
        ts=2.0,
        trigger=("start",),
        desired_invalid=True,
        actions=(),
        result="invalid-desired-state",
        error="invalid desired state: d.yaml:3: bad",
        resumed=True,
        git=PullResult("local-changes", "a", "a", "local changes"),
        claimed_wei=0,
    ).to_json()
    assert invalid["actions"] == [] and invalid["desiredInvalid"] is True and invalid["resumed"] is True
    assert invalid["git"] == {"outcome": "local-changes", "message": "local changes"} and invalid["claimedWei"] == "0"
    assert "reasons" not in invalid and "lowFunds" not in invalid and "alerts" not in invalid


def test_a_run_in_progress_gives_the_alert_details_then_the_line() -> None:
    run = RunFindings(ts=1.0, trigger=("timer",), invalid_error="invalid desired state: d.yaml:1: bad")
    run.provider, run.block = "0x70", 7
    assert run.record().details() == {"trigger": ["timer"], "provider": "0x70", "block": 7}  # no mode or result yet
    run.gate = Gate(auto_apply=True, switch_suspend=True)
    run.outcome = Reported(ACTIONS, ("a plan error",), tuple(run.gate.reasons()))
    run.verdict = Verdict("drift-reported")
    line = run.record(duration_ms=5).to_json()
    assert line["mode"] == "alert-only" and line["suspended"] is True and line["reasons"] == list(run.gate.reasons())
    assert line["planErrors"] == ["a plan error"] and line["actions"] == ["bid.post:0xaa"] and line["durationMs"] == 5
    # the files are broken, the last good state was planned on: a warning of the run, not its error
    assert line["desiredInvalid"] is True and "error" not in line
    assert line["warnings"] == [carried_on_warning("invalid desired state: d.yaml:1: bad")]
    run.verdict = Verdict("failed", "RpcError: down")
    failed_line = run.record().to_json()
    assert failed_line["error"] == "RpcError: down" and failed_line["warnings"] == line["warnings"]

    failed = RunFindings(ts=1.0, trigger=("file",), gate=Gate(auto_apply=True), failed_actions=ACTIONS)
    failed.verdict = Verdict("failed", "ApplyError: refusing to apply")
    line = failed.record().to_json()
    assert line["actions"] == ["bid.post:0xaa"] and "txs" not in line and line["mode"] == "apply"


def test_a_run_carrying_on_with_the_last_good_state_reports_its_own_result_not_the_files_error() -> None:
    """A timer run while the files are broken converges to the last good state: its line says converged, with no
    `error` (metrics and the page take `error` as the run's failure) and the broken files as a warning; a run the
    broken files stopped has them as its error."""
    broken = invalid_error(["d.yaml:1: bad"])
    assert not stops_on_invalid(["timer"], have_last_good=True)
    s = WatchState().desired_loaded("v1")
    s, verdict = s.settle(_applied(), now=0)
    carried = RunFindings(ts=1.0, trigger=("timer",), invalid_error=broken, gate=Gate(auto_apply=True))
    carried.outcome, carried.verdict = _applied(), verdict
    line = carried.record(duration_ms=1).to_json()
    assert line["result"] == "converged" and "error" not in line and line["desiredInvalid"] is True
    assert line["warnings"] == [carried_on_warning(broken)] and "d.yaml:1: bad" in line["warnings"][0]
    _s, nothing = s.settle(_applied(applied=False), now=1)
    carried.outcome, carried.verdict = _applied(applied=False), nothing
    line = carried.record().to_json()
    assert line["result"] == "no-changes" and "error" not in line and len(line["warnings"]) == 1

    stopped = RunFindings(ts=1.0, trigger=("file",), invalid_error=broken)
    _s, stopped.verdict = s.settle(InvalidDesired(broken), now=2)
    line = stopped.record().to_json()
    assert line["result"] == "invalid-desired-state" and line["error"] == broken and "warnings" not in line


def _action(aid: str, fee: int = 0, stake: int = 0) -> Action:
    return Action(aid, ActionKind.BID_POST, "t", "r", ModelRef("0x" + "00" * 32), cost=Cost(fee=fee, stake=stake))


def _tx(h: str, action_id: str, status: str) -> TxRecord:
    return TxRecord(tx_hash=h, status=status, action_id=action_id)  # type: ignore[arg-type]


def test_what_a_confirmed_apply_did_as_far_as_the_journal_tells() -> None:
    plan = [
        _action("mined", fee=MOR // 10),
        _action("unknown", stake=MOR),  # sent, no receipt yet: may still be mined
        _action("reverted", fee=2 * MOR // 10),
        _action("not-reached", fee=3 * MOR // 10),  # or skipped (already in place): no transaction
        _action("sped-up", fee=4 * MOR // 10),  # its first transaction replaced by its own faster one, mined
        _action("refund", stake=-MOR),  # stake back is not spend (as the reservation counts it)
    ]
    txs = [
        _tx("0x1", "mined", "mined"),
        _tx("0x2", "unknown", "signed"),
        _tx("0x3", "reverted", "reverted"),
        _tx("0x4", "sped-up", "replaced"),
        _tx("0x5", "sped-up", "mined"),
        _tx("0x6", "refund", "mined"),
    ]
    found = so_far(plan, txs)
    assert found.done == ("mined", "sped-up", "refund") and found.in_flight == ("unknown",)
    assert found.tx_hashes == ("0x1", "0x2", "0x3", "0x4", "0x5", "0x6")
    assert found.spent_wei == MOR // 10 + MOR + 4 * MOR // 10
    assert found.mined_wei == MOR // 10 + 4 * MOR // 10  # what is known spent: the in-flight one is not yet
    assert so_far(plan, []) == SoFar((), (), (), 0, 0)  # failed before anything was journaled
    assert so_far(plan, [*txs, _tx("0x7", "not-in-the-plan", "mined")]).spent_wei is None  # cannot price: keep it


def test_the_day_tally_is_settled_to_what_the_apply_spent(tmp_path: Path) -> None:
    path = tmp_path / "spend.jsonl"
    t0 = 1_000_000.0
    ledger = SpendLedger(path)
    assert ledger.reserve(MOR, 2 * MOR, "plan 3 action(s)", now=t0, ref="r1") is None
    assert ledger.reserve(MOR // 2, None, "plan 1 action(s)", now=t0 + 1, ref="r2") is None  # never settled: unknown
    ledger.record(MOR // 4, "an entry of an older watcher", ts=t0 + 2)
    assert ledger.spent_last_day(now=t0 + 5) == MOR + MOR // 2 + MOR // 4
    ledger.settle("r1", 3 * MOR // 10, "settled: 1 mined, 0 in flight of 3", ts=t0 + 60)
    ledger.settle("gone", MOR, "a settlement of no reservation", ts=t0 + 60)  # ignored
    path.write_text(path.read_text() + '{"ts": 1000061.0, "wei": "-5", "settl')  # a torn last line
    fresh = SpendLedger(path)  # a restarted watcher reads the same tally
    assert fresh.spent_last_day(now=t0 + 30) == MOR + MOR // 2 + MOR // 4  # before the settlement: as reserved
    assert fresh.spent_last_day(now=t0 + 61) == 3 * MOR // 10 + MOR // 2 + MOR // 4
    assert fresh.reserve(9 * MOR // 10, 2 * MOR, "plan 1", now=t0 + 62) is None  # the settled room is usable again
    # the settled spend stays in the day until a day after its settlement (its txs were mined by then)
    assert fresh.spent_last_day(now=t0 + DAY_SECONDS + 30) == 3 * MOR // 10 + 9 * MOR // 10
    assert fresh.spent_last_day(now=t0 + DAY_SECONDS + 61) == 9 * MOR // 10  # only the one reserved at t0 + 62
    fresh.settle("r1", 0, "settled: 0 mined", ts=t0 + 70)  # the latest settlement wins
    assert fresh.spent_last_day(now=t0 + 71) == MOR // 2 + MOR // 4 + 9 * MOR // 10
    lines = path.read_text().splitlines()
    assert lines[5].endswith('"settl')  # the torn line is left as it was; what followed starts on its own line
    assert [json.loads(x).get("settles") for x in lines[:5] + lines[6:]] == [None, None, None, "r1", "gone", None, "r1"]
    assert json.loads(lines[0]) == {"ts": t0, "wei": str(MOR), "what": "plan 3 action(s)", "ref": "r1"}  # as written


def test_a_failed_apply_line_says_what_was_attempted_and_done() -> None:
    """An apply that raised after confirming (a revert, the endpoint, a proxy write; not only ApplyError) still
    lists the confirmed plan's actions, which the journal says were mined or are in flight, and what was sent."""
    run = RunFindings(ts=1.0, trigger=("chain",), gate=Gate(auto_apply=True), failed_actions=("a", "b", "c"))
    run.failed_so_far = so_far([_action("a", fee=1), _action("b", fee=2), _action("c")], [_tx("0x1", "a", "mined")])
    run.verdict = Verdict("failed", "TransactionFailed: b reverted")
    line = run.record(duration_ms=3).to_json()
    assert line["actions"] == ["a", "b", "c"] and line["actionsDone"] == ["a"] and "actionsInFlight" not in line
    assert line["txHashes"] == ["0x1"] and line["error"] == "TransactionFailed: b reverted" and "txs" not in line
    assert line["morSpentWei"] == "1"  # a's fee: mined before b failed (the counter counts it too)
    run.failed_so_far = so_far([_action("a"), _action("b")], [_tx("0x1", "a", "mined"), _tx("0x2", "b", "signed")])
    line = run.record().to_json()
    assert line["actionsDone"] == ["a"] and line["actionsInFlight"] == ["b"] and line["txHashes"] == ["0x1", "0x2"]
    run.failed_so_far = None  # the journal could not be read: the actions, nothing claimed about them
    line = run.record().to_json()
    assert line["actions"] == ["a", "b", "c"] and "actionsDone" not in line and "txHashes" not in line
    assert "morSpentWei" not in line


def test_the_day_tally_skips_garbage_and_never_counts_below_what_was_reserved(tmp_path: Path) -> None:
    """Undecodable bytes are a torn line, and a negative entry (never written by a reservation) hides nothing."""
    path = tmp_path / "spend.jsonl"
    ledger = SpendLedger(path)
    ledger.record(5, "bid.post", ts=1000.0, ref="a")
    with path.open("ab") as f:
        f.write(b'\xff\xfe{"ts": 1\n{"ts": 1000, "wei": "-7", "what": "x"}\n[1]\n')
    ledger.record(3, "bid.post", ts=1001.0, ref="b")
    assert SpendLedger(path).spent_last_day(now=1002.0) == 8


def test_a_manual_step_blocks_without_a_backoff_and_is_alerted_once_per_set_of_steps() -> None:
    s = WatchState()
    step = ManualStep("mor.approve", "allowance 0 MOR is below 0.6 MOR: run `reconcile approve` with that wallet")
    blocked = BlockedManual(("mor.approve", "bid.post:0xaa"), (step,))
    after, verdict = s.settle(blocked, now=1)
    assert verdict.result == "blocked-manual" and after.backoff == s.backoff
    assert verdict.error == f"blocked on a manual step: mor.approve: {step.reason}"
    (alert,) = verdict.alerts
    assert alert.event == "blocked-manual" and alert.key == "mor.approve"
    after, post = after.notice(alert)
    assert post and after.notice(alert) == (after, False)


def test_a_held_change_is_a_held_run_with_what_why_and_when() -> None:
    from reconciler.watch.state import Held

    held = (Held("bid.post:0xaa", "held by the churn guard: bid posted 180s ago", until=5000),)
    nothing = Applied((), False, True, (), 0, 0, (), "nothing to do", held=held)
    assert WatchState().settle(nothing, now=0)[1].result == "held"
    assert WatchState().settle(Reported((), (), (), held=held), now=0)[1].result == "held"
    # something applied and something held: the run converged what it could, and says what waits
    assert WatchState().settle(replace(_applied(), held=held), now=0)[1].result == "converged"
    run = RunFindings(ts=1.0, trigger=("file",), outcome=nothing, verdict=Verdict("held"))
    line = run.record(duration_ms=3).to_json()
    assert line["result"] == "held" and "notes" not in line
    assert line["held"] == [
        {"action": "bid.post:0xaa", "reason": "held by the churn guard: bid posted 180s ago", "until": 5000}
    ]


def test_a_refused_pull_is_the_runs_result_with_its_reason() -> None:
    pull = PullResult("no-upstream", "a", "a", "no upstream to pull from")
    run = RunFindings(ts=1.0, trigger=("git-blocked",), git=pull, verdict=Verdict("no-changes"))
    rec = run.record(duration_ms=1)
    assert rec.result == "git-blocked" and rec.error == "git pull: no upstream to pull from"
    assert not rec.succeeded
    # a failure of the run itself stays its result; the pull's reason is then a warning
    failed = replace(run, verdict=Verdict("failed", "boom")).record(duration_ms=1)
    assert failed.result == "failed" and failed.error == "boom"
    assert "git pull: no upstream to pull from" in failed.warnings


def test_only_a_valid_fully_applied_run_is_a_success() -> None:
    ok = RunFindings(ts=1.0, trigger=("timer",), verdict=Verdict("no-changes"))
    assert ok.record(duration_ms=1).succeeded
    assert replace(ok, verdict=Verdict("converged")).record(duration_ms=1).succeeded
    on_last_good = replace(ok, invalid_error="invalid desired state: d.yaml:1: bad")
    assert not on_last_good.record(duration_ms=1).succeeded
    for result in ("drift-reported", "held", "invalid-desired-state", "blocked-manual", "failed", "budget-exceeded"):
        assert not replace(ok, verdict=Verdict(result)).record(duration_ms=1).succeeded, result
