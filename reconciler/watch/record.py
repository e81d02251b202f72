"""A watcher run as reported: the JSON line on stdout and the details of its webhook alerts, built from what the
run's steps found.

Why a type: the keys and when each one is present are the watcher's reporting contract (docs/watch.md; the
metrics and the tests read the same line), so they are spelled in one place. A field that is None (or empty where
the key appears only when there is something to say) is left out of the line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.apply.run import nothing_sent_note
from reconciler.observe.forwarder_health import ForwarderHealth
from reconciler.observe.router_health import RouterHealth
from reconciler.observe.upstream_health import UpstreamHealth
from reconciler.watch.gate import Gate
from reconciler.watch.gitsync import PullResult
from reconciler.watch.ledger import SoFar
from reconciler.watch.state import (
    Applied,
    BlockedManual,
    BudgetExceeded,
    Held,
    InvalidDesired,
    Reported,
    Verdict,
    carried_on_warning,
)

# a run that acted on a valid desired state and left it fully applied (or found it already in place): the only
# results that move the last-success time (metrics); `held`, `drift-reported`, `git-blocked` and the rest do not
SUCCESS_RESULTS = ("converged", "no-changes")

# what a webhook alert's `details` carry, taken from the run as far as it has got when the alert is raised
WEBHOOK_FIELDS = (
    "trigger",
    "forwarder",
    "upstreams",
    "router",
    "mode",
    "suspended",
    "reasons",
    "actions",
    "result",
    "member",
    "provider",
    "block",
    "commit",
)


@dataclass(frozen=True)
class RunRecord:
    ts: float
    trigger: tuple[str, ...]
    trigger_detail: tuple[str, ...] = ()
    commit: str | None = None
    resumed: bool = False
    git: PullResult | None = None  # a refused pull (trigger git-blocked)
    desired_invalid: bool = False
    member: str | None = None  # a fleet member's name (fleet.yaml): who is reporting; None for a single provider
    provider: str | None = None
    block: int | None = None
    writer_conflict: bool | None = None  # only with --auto-apply
    low_funds: tuple[str, ...] = ()
    forwarder: ForwarderHealth | None = None  # its health at the start of the run (with proxy.adminUrl or not)
    upstreams: tuple[UpstreamHealth, ...] = ()  # models whose upstream is down or degraded (upstream_health)
    router: RouterHealth | None = None  # the managed router's health (with proxy.router)
    mode: str | None = None
    suspended: bool | None = None
    reasons: tuple[str, ...] = ()
    actions: tuple[str, ...] | None = None
    actions_done: tuple[str, ...] | None = None  # a failed apply: which of `actions` the journal says were mined
    actions_in_flight: tuple[str, ...] = ()  # a failed apply: sent, outcome unknown
    plan_errors: tuple[str, ...] = ()
    txs: int | None = None
    tx_hashes: tuple[str, ...] = ()
    mor_spent_wei: int | None = None
    notes: tuple[str, ...] = ()
    held: tuple[Held, ...] = ()  # what the plan held back: the run's result is `held` when nothing else was to do
    claimed_wei: int | None = None
    result: str | None = None  # None only while the run is still going (an alert's details)
    error: str | None = None  # this run's own error: None when its result is a success
    warnings: tuple[str, ...] = ()  # e.g. the files on disk are invalid and the last good state was used
    alerts: tuple[str, ...] = ()
    duration_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The run line's keys and values (money as decimal strings of wei)."""
        optional: dict[str, Any] = {
            "triggerDetail": list(self.trigger_detail) or None,
            "commit": self.commit,
            "resumed": True if self.resumed else None,
            "git": {"outcome": self.git.outcome, "message": self.git.message} if self.git else None,
            "desiredInvalid": True if self.desired_invalid else None,
            "member": self.member,
            "provider": self.provider,
            "block": self.block,
            "writerConflict": self.writer_conflict,
            "lowFunds": list(self.low_funds) or None,
            "forwarder": self.forwarder.to_json() if self.forwarder else None,
            "upstreams": {h.model: h.to_json() for h in self.upstreams} or None,
            "router": self.router.to_json() if self.router else None,
            "mode": self.mode,
            "suspended": self.suspended,
            "reasons": list(self.reasons) or None,
            "actions": list(self.actions) if self.actions is not None else None,
            "actionsDone": list(self.actions_done) if self.actions_done is not None else None,
            "actionsInFlight": list(self.actions_in_flight) or None,
            "planErrors": list(self.plan_errors) or None,
            "txs": self.txs,
            "txHashes": list(self.tx_hashes) or None,
            "morSpentWei": str(self.mor_spent_wei) if self.mor_spent_wei is not None else None,
            "notes": list(self.notes) or None,
            "held": [h.to_json() for h in self.held] or None,
            "claimedWei": str(self.claimed_wei) if self.claimed_wei is not None else None,
            "result": self.result,
            "error": self.error,
            "warnings": list(self.warnings) or None,
            "alerts": list(self.alerts) or None,
            "durationMs": self.duration_ms,
        }
        line: dict[str, Any] = {"event": "run", "ts": self.ts, "trigger": list(self.trigger)}
        line.update({k: v for k, v in optional.items() if v is not None})
        return line

    @property
    def succeeded(self) -> bool:
        """The run acted on the desired state as it is now (valid files, the pull not refused) and left it fully
        applied or found it in place: what the last-success time means."""
        return self.result in SUCCESS_RESULTS and not self.desired_invalid and self.git is None

    def details(self) -> dict[str, Any]:
        """A webhook alert's details: the run's trigger, mode, actions, result... as far as they are known."""
        line = self.to_json()
        return {k: line[k] for k in WEBHOOK_FIELDS if k in line}


@dataclass
class RunFindings:
    """What the steps of a run in progress found, each set once by the step that found it; `record()` makes the
    run line from them (and, mid-run, the details of an alert)."""

    ts: float
    trigger: tuple[str, ...]
    trigger_detail: tuple[str, ...] = ()
    commit: str | None = None
    resumed: bool = False
    git: PullResult | None = None
    invalid_error: str | None = None  # the desired state was invalid (the run may go on with the last good one)
    member: str | None = None  # the fleet member this watcher keeps converged (None: a single provider)
    provider: str | None = None
    block: int | None = None
    writer_conflict: bool | None = None
    low_funds: tuple[str, ...] = ()
    forwarder: ForwarderHealth | None = None
    upstreams: tuple[UpstreamHealth, ...] = ()
    router: RouterHealth | None = None
    gate: Gate | None = None
    outcome: Applied | BudgetExceeded | BlockedManual | Reported | InvalidDesired | None = None
    failed_actions: tuple[str, ...] | None = None  # what an apply that raised after confirming had planned
    failed_so_far: SoFar | None = None  # and what the journal says it did (None: not known)
    claimed_wei: int | None = None
    verdict: Verdict | None = None  # replaced by a failure when a step after it (a claim) raises
    alerts: list[str] = field(default_factory=list)
    step_warnings: list[str] = field(default_factory=list)  # what a step could not do but went on (its memory file)

    def record(self, duration_ms: int | None = None) -> RunRecord:
        """The run line as far as the run has got (the webhook's details) or, with its duration, the final one."""
        outcome, gate, verdict = self.outcome, self.gate, self.verdict
        applied = outcome if isinstance(outcome, Applied) else None
        so_far = self.failed_so_far if outcome is None else None
        held = outcome.held if isinstance(outcome, (Applied, Reported)) else ()
        result, error = (verdict.result, verdict.error) if verdict else (None, None)
        if self.git is not None and result is not None and error is None:  # the run did what it could: on an old commit
            result, error = "git-blocked", git_error(self.git)
        return RunRecord(
            ts=self.ts,
            trigger=self.trigger,
            trigger_detail=self.trigger_detail,
            commit=self.commit,
            resumed=self.resumed,
            git=self.git,
            desired_invalid=self.invalid_error is not None,
            member=self.member,
            provider=self.provider,
            block=self.block,
            writer_conflict=self.writer_conflict,
            low_funds=self.low_funds,
            forwarder=self.forwarder,
            upstreams=self.upstreams,
            router=self.router,
            mode=gate.mode if gate else None,
            suspended=gate.suspended if gate else None,
            reasons=tuple(gate.reasons()) if gate else (),
            actions=outcome.actions if outcome is not None else self.failed_actions,
            plan_errors=outcome.plan_errors if isinstance(outcome, Reported) else (),
            txs=applied.txs if applied else None,
            actions_done=so_far.done if so_far else None,
            actions_in_flight=so_far.in_flight if so_far else (),
            tx_hashes=applied.tx_hashes if applied else so_far.tx_hashes if so_far else (),
            mor_spent_wei=applied.spent_wei if applied else so_far.mined_wei if so_far else None,
            notes=applied.notes if applied else outcome.notes if isinstance(outcome, Reported) else (),
            held=held,
            claimed_wei=self.claimed_wei,
            result=result,
            error=error,
            warnings=self._warnings(),
            alerts=tuple(self.alerts),
            duration_ms=duration_ms,
        )

    def _warnings(self) -> tuple[str, ...]:
        """Invalid files that did not stop the run (a timer, the chain: the last good state was used) are a
        warning of the run, whatever it came to; a run they stopped has them as its error instead. So is a refused
        pull when the run has an error of its own (otherwise the pull's reason is the run's error)."""
        out: list[str] = list(self.step_warnings)
        if self.git is not None and self.verdict is not None and self.verdict.error is not None:
            out.append(git_error(self.git))
        if self.invalid_error is None or isinstance(self.outcome, InvalidDesired):
            return tuple(out)
        if self.verdict is not None and self.verdict.result == "invalid-desired-state":
            return tuple(out)
        return (carried_on_warning(self.invalid_error), *out)


def git_error(pull: PullResult) -> str:
    """A refused pull as the run's error: the desired state in force is the checkout's, not the remote's."""
    return f"git pull: {pull.message}"


def report_notes(pending: tuple[str, ...], held: tuple[str, ...], unchecked: str | None) -> tuple[str, ...]:
    """An alert-only run's notes, as an apply-mode run's: with nothing pending the same line (what is held, or a
    proxy not checked instead of "chain and proxy match"); with changes pending, a proxy not checked is named."""
    if not pending:
        return (nothing_sent_note(held, unchecked),)
    return (f"not applied (alert-only); {unchecked}",) if unchecked is not None else ()
