"""What the watcher remembers from run to run, and every change to it, as pure values.

Why: the loop (the shell) reads the world and acts on it; what it carries between runs (the backoff, another
writer seen, the alerts already posted, the resume token) and what it decides from that (apply or only report,
a run's result, which alerts to post) is here, so a unit test drives every transition without threads or a chain.
Each transition returns a new state; none reads a clock, a file or the network (the shell passes `now` in).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.plan.model import ManualStep
from reconciler.plan.unserved import NO_MEMORY, Serving
from reconciler.watch.backoff import Backoff
from reconciler.watch.gate import Gate, foreign_nonce
from reconciler.watch.gitsync import PullResult

# triggers that mean "look at the files now": an invalid desired state then stops the run instead of the last
# good one being kept in force (a timer or the chain keeps converging to it)
FILE_TRIGGERS = frozenset({"file", "git", "start"})


@dataclass(frozen=True)
class Alert:
    """One alert of a run. Posted once per distinct `key` (None: posted every time, e.g. `applied`)."""

    event: str
    summary: str
    key: str | None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Held:
    """A change the plan holds back on purpose (the churn guard, the router loading a model): which action, why,
    and the unix time from which it may go (None: not known, e.g. a price change below the guard's percentage)."""

    action: str
    reason: str
    until: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"action": self.action, "reason": self.reason, "until": self.until}


# --- what a run's apply or report came to (the shell builds these; `WatchState.settle` decides on them) ---------


@dataclass(frozen=True)
class Applied:
    """apply_desired returned: the actions it planned, what it sent and spent, and what is still pending after."""

    actions: tuple[str, ...]
    applied: bool
    converged: bool
    still_pending: tuple[str, ...]
    txs: int
    spent_wei: int
    notes: tuple[str, ...]
    summary: str
    tx_hashes: tuple[str, ...] = ()  # what it sent, for the status page's links
    held: tuple[Held, ...] = ()  # what the plan held back (not sent, not pending)


@dataclass(frozen=True)
class BudgetExceeded:
    """The plan did not fit the rolling-day budget (policy.maxSpendPerDay): nothing was sent."""

    actions: tuple[str, ...]
    refusal: str


@dataclass(frozen=True)
class Reported:
    """Only planned and reported (alert-only, for `reasons`)."""

    actions: tuple[str, ...]
    plan_errors: tuple[str, ...]
    reasons: tuple[str, ...]
    held: tuple[Held, ...] = ()
    notes: tuple[str, ...] = ()  # as an apply-mode run's (reconciler.watch.record.report_notes)


@dataclass(frozen=True)
class BlockedManual:
    """apply refused only because the plan needs a manual step (the provider wallet's `reconcile approve`):
    nothing was sent, nothing failed; the watcher cannot go on until a person acts."""

    actions: tuple[str, ...]
    steps: tuple[ManualStep, ...]


@dataclass(frozen=True)
class InvalidDesired:
    """The desired state is invalid and there is no good one to act on in this run: nothing was planned. `error`
    is the run's error (invalid_error: the first errors with file and line)."""

    error: str = "invalid desired state"
    actions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Failed:
    """The run raised. `applying`: it was an apply (mode apply) that failed, which backs off; a read does not."""

    error: str
    applying: bool


Outcome = Applied | BudgetExceeded | BlockedManual | Reported | InvalidDesired | Failed


@dataclass(frozen=True)
class Verdict:
    """A run's `result` (docs/watch.md), its `error` if any, and the alerts it raises, in order."""

    result: str
    error: str | None = None
    alerts: tuple[Alert, ...] = ()


# --- the state ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WatchState:
    backoff: Backoff = field(default_factory=Backoff)
    desired_fp: str = ""  # fingerprint of the desired-state files last loaded
    resume_token: str = ""  # the content of STATE/watch-resume last seen
    conflict: bool = False  # another writer used the signer's key: only report until resumed
    known_nonce: int | None = None  # the signer's next nonce as far as this watcher knows
    alerted: Mapping[str, str] = field(default_factory=dict)  # event -> key of the last one posted
    serving: Serving = NO_MEMORY  # since when the forwarder has (not) served (watch.serving.served_since)

    # --- between runs -----------------------------------------------------------------------------------------

    def resume(self, token: str) -> tuple[WatchState, bool]:
        """`reconcile watch --resume` wrote a new token: the operator has looked, lift a conflict and a backoff."""
        if token == self.resume_token:
            return self, False
        return replace(self, resume_token=token, conflict=False, backoff=self.backoff.succeeded()), True

    def desired_loaded(self, fingerprint: str) -> WatchState:
        """A valid desired state was read: a new one lifts a failure stop that was for another one."""
        backoff = self.backoff.desired_changed(fingerprint) if fingerprint != self.desired_fp else self.backoff
        return replace(self, backoff=backoff, desired_fp=fingerprint).cleared("invalid-desired-state")

    def nonce_seen(self, chain_nonce: int, journal_nonces: Iterable[int]) -> tuple[WatchState, Alert | None]:
        """The signer's pending nonce on chain, against the nonces this watcher's journal sent: a nonce past all
        of them is another writer, which stops auto-apply (alerted once) until `resume`."""
        journal_next = [n + 1 for n in journal_nonces]
        known = max([self.known_nonce if self.known_nonce is not None else chain_nonce, *journal_next])
        alert = None
        conflict = self.conflict
        if not conflict and foreign_nonce(chain_nonce, known):
            conflict = True
            alert = Alert(
                "writer-conflict",
                f"the signer's nonce is {chain_nonce} but this watcher knows of transactions up to {known - 1}: "
                "another writer uses the key; auto-apply stops (only reports) until `reconcile watch --resume`",
                key=str(chain_nonce),
            )
        return replace(self, conflict=conflict, known_nonce=max(known, chain_nonce)), alert

    def funds_seen(self, lows: list[str]) -> tuple[WatchState, Alert | None]:
        """Balances below policy.alerts: alerted once per set of low balances, again after they recovered."""
        if not lows:
            return self.cleared("low-funds"), None
        key = "|".join(sorted(x.split(" ")[0] for x in lows))
        return self, Alert("low-funds", "low funds: " + "; ".join(lows), key=key)

    def gate(self, *, auto_apply: bool, policy_suspend: bool, switch_suspend: bool, now: float) -> Gate:
        """Apply, or only report, and why, for a run starting at `now`."""
        return Gate(
            auto_apply=auto_apply,
            policy_suspend=policy_suspend,
            switch_suspend=switch_suspend,
            writer_conflict=self.conflict,
            backing_off=not self.backoff.may_apply(now, self.desired_fp),
            stopped_after_failures=self.backoff.stopped_for == self.desired_fp,
        )

    # --- the end of a run -------------------------------------------------------------------------------------

    def settle(self, outcome: Outcome, now: float) -> tuple[WatchState, Verdict]:
        """The run's result from what its apply or report came to; a failed apply backs off, a converged one
        resets the backoff and lets the same failure or drift be alerted again."""
        if isinstance(outcome, Applied):
            if not outcome.converged:
                error = "still pending after apply: " + ", ".join(outcome.still_pending)
                failed = replace(self, backoff=self.backoff.failed(now, self.desired_fp))
                return failed, Verdict("not-converged", error, (Alert("failure", error, key=error),))
            ok = replace(self, backoff=self.backoff.succeeded()).cleared("failure", "drift", "blocked-manual")
            if not outcome.applied:
                return ok, Verdict("held" if outcome.held else "no-changes")
            summary = f"applied {len(outcome.actions)} action(s): {outcome.summary}"
            return ok, Verdict("converged", None, (Alert("applied", summary, key=None),))
        if isinstance(outcome, BudgetExceeded):  # not a failure of the apply: no backoff, nothing was tried
            refusal = outcome.refusal
            return self, Verdict("budget-exceeded", refusal, (Alert("failure", refusal, key=refusal[:40]),))
        if isinstance(outcome, BlockedManual):  # not a failure: no backoff; alerted once per set of manual steps
            error = "blocked on a manual step: " + "; ".join(str(step) for step in outcome.steps)
            key = "|".join(sorted(step.action_id for step in outcome.steps))
            return self, Verdict("blocked-manual", error, (Alert("blocked-manual", error, key=key),))
        if isinstance(outcome, Reported):
            if not outcome.actions:
                return self.cleared("drift", "blocked-manual"), Verdict("held" if outcome.held else "no-changes")
            summary = f"{len(outcome.actions)} action(s) pending, not applied ({'; '.join(outcome.reasons)})"
            return self, Verdict("drift-reported", None, (Alert("drift", summary, key="|".join(outcome.actions)),))
        if isinstance(outcome, InvalidDesired):
            return self, Verdict("invalid-desired-state", outcome.error)
        backoff = self.backoff.failed(now, self.desired_fp) if outcome.applying else self.backoff
        alert = Alert("failure", f"watch run failed: {outcome.error}", key=outcome.error)
        return replace(self, backoff=backoff), Verdict("failed", outcome.error, (alert,))

    # --- alerts -----------------------------------------------------------------------------------------------

    def notice(self, alert: Alert) -> tuple[WatchState, bool]:
        """Whether to post `alert`: not when the last one of its event had the same key (its cause is unchanged)."""
        if alert.key is None:
            return self, True
        if self.alerted.get(alert.event) == alert.key:
            return self, False
        return replace(self, alerted={**self.alerted, alert.event: alert.key}), True

    def cleared(self, *events: str) -> WatchState:
        """Their cause is gone: the next alert of these events is posted even with the same key."""
        if not any(e in self.alerted for e in events):
            return self
        return replace(self, alerted={k: v for k, v in self.alerted.items() if k not in events})


def stops_on_invalid(triggers: Iterable[str], have_last_good: bool) -> bool:
    """An invalid desired state stops the run when there is no good one yet, or when the files are what woke
    it; otherwise (a timer, the chain) the run keeps converging to the last good state."""
    return not have_last_good or bool(FILE_TRIGGERS & set(triggers))


def invalid_alert(errors: list[str], files_fp: str) -> Alert:
    """Alerted once per broken content of the files (their fingerprint)."""
    return Alert(
        "invalid-desired-state",
        f"the desired state is invalid ({len(errors)} error(s)); nothing is done on it, the last good state "
        "stays in force",
        key=files_fp,
        extra={"errors": errors[:20]},
    )


def invalid_error(errors: list[str]) -> str:
    """The run line's `error` for an invalid desired state (the first five errors, with file and line)."""
    return "invalid desired state: " + "; ".join(errors[:5])


def carried_on_warning(error: str) -> str:
    """What a run that went on with the last good desired state says of the invalid files: a warning, not its
    `error` (that run may well have converged; its error, if any, is its own)."""
    return f"the desired state on disk is invalid, this run used the last good one ({error})"


def git_blocked_alert(pull: PullResult) -> Alert:
    return Alert("git-blocked", f"git pull: {pull.message}", key=pull.message)
