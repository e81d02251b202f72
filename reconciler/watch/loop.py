"""`reconcile watch`: keep one provider converged (or report its drift) for as long as it runs.

The imperative shell of the watcher. Trigger threads (reconciler.watch.triggers) only enqueue; this one loop
drains the queue and runs, so runs never overlap. A run: re-read the desired state (an invalid one is reported
and never acted on; the last good one stays in force) -> decide the mode (the gate: suspended, another writer,
backoff) -> apply through apply_desired (which plans, re-checks and journals) or only plan and report ->
one JSON line on stdout, metrics, webhook, and (with the status page) what the page shows, kept on a Board.
Spend is reserved in the rolling-day ledger before anything is sent.
What it remembers between runs and every decision on it are pure (reconciler.watch.state); the run line is a
RunRecord (reconciler.watch.record) built once at the end of the run from what each step found.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from web3 import Web3

from reconciler import GuardRefused, StateUnusable
from reconciler.apply.refusals import ManualStepNeeded
from reconciler.apply.run import ApplyOptions, apply_desired
from reconciler.apply.writer import journal_path, state_path
from reconciler.chain.journal import Journal
from reconciler.chain.networks import Network, resolve_network
from reconciler.chain.pool import pool_of
from reconciler.chain.reader import ChainReader
from reconciler.chain.signer import load_signer
from reconciler.desired.diagnostics import Severity, ValidationFailed
from reconciler.desired.fleet import load_fleet
from reconciler.desired.loader import load_desired
from reconciler.desired.model import Desired
from reconciler.desired.secrets import SecretUse
from reconciler.observe.forwarder_admin import ForwarderAdmin
from reconciler.observe.forwarder_health import probe
from reconciler.observe.market import market_for_page
from reconciler.observe.market_input import host_rating
from reconciler.observe.model import Observed
from reconciler.observe.price_command import PriceAnswers, PriceCommand
from reconciler.observe.prometheus import MetricSample
from reconciler.observe.router_health import judge_router, probe_router
from reconciler.observe.upstream_health import Reading, UpstreamHealth, judge_upstreams, reading
from reconciler.observe.usage import usage_of
from reconciler.pipeline import plan_for
from reconciler.plan.model import Plan, Status
from reconciler.plan.unserved import Serving
from reconciler.sessions.claim import claim_journaled
from reconciler.status import usage_days
from reconciler.status.board import Board
from reconciler.status.daily import day_of
from reconciler.status.margins import margin_section, today_rows
from reconciler.status.page import FleetPlace, Observation, WatcherStatus
from reconciler.watch import serving_file
from reconciler.watch.backoff import Backoff
from reconciler.watch.gate import Gate, file_references, files_fingerprint, low_funds
from reconciler.watch.gitsync import PullResult, head, require_checkout
from reconciler.watch.ledger import SoFar, SpendLedger, so_far
from reconciler.watch.metrics import WatchMetrics
from reconciler.watch.notify import Webhook
from reconciler.watch.record import RunFindings, report_notes
from reconciler.watch.serving import (
    declared_only,
    forwarder_seen,
    router_seen,
    served_since,
    upstreams_seen,
    upstreams_served_since,
)
from reconciler.watch.state import (
    Alert,
    Applied,
    BlockedManual,
    BudgetExceeded,
    Failed,
    Held,
    InvalidDesired,
    Outcome,
    Reported,
    WatchState,
    git_blocked_alert,
    invalid_alert,
    invalid_error,
    stops_on_invalid,
)
from reconciler.watch.triggers import COMPETITOR_PACE, ChainTarget, FileTrigger, Poller, Trigger

SUSPEND_FILE = "watch-suspend"
RESUME_FILE = "watch-resume"


def ready(state_dir: Path) -> Path:
    """The --state-dir, made if missing; one that cannot be (a file, no permission) is named, not a crash."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateUnusable(f"--state-dir {state_dir} cannot be used: {exc.strerror or exc}") from None
    return state_dir


def suspend(state_dir: Path, why: str = "") -> Path:
    """The pause switch: every watcher using this --state-dir only reports until `resume`."""
    ready(state_dir)
    path = state_dir / SUSPEND_FILE
    path.write_text(json.dumps({"ts": time.time(), "why": why}) + "\n")
    return path


def resume(state_dir: Path) -> None:
    """Lift the pause switch, and a writer-conflict or failure stop (the operator has looked)."""
    ready(state_dir)
    (state_dir / SUSPEND_FILE).unlink(missing_ok=True)
    (state_dir / RESUME_FILE).write_text(str(time.time_ns()) + "\n")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


@dataclass
class WatchOptions:
    path: Path
    state_dir: Path
    auto_apply: bool = False
    interval: float = 60.0
    poll: float = 2.0
    competitor_pace: float = COMPETITOR_PACE  # seconds between runs woken by competitors' bid events (triggers.py)
    git_pull: float | None = None
    webhook: Webhook | None = None
    given: tuple[SecretUse, ...] = ()  # secrets the command line names (--webhook), checked at each load
    metrics: WatchMetrics = field(default_factory=WatchMetrics)
    environ: Mapping[str, str] = field(default_factory=dict)
    out: Callable[[str], None] = print
    err: Callable[[str], None] = lambda _line: None
    backoff: Backoff = field(default_factory=Backoff)
    receipt_timeout: float = 300.0
    board: Board | None = None  # the status page's holder (None: no page, no extra observation)
    provider: str | None = None  # on a fleet folder: the member this watcher keeps converged (None: one provider)
    price_command: PriceCommand | None = None  # the operator's pricing strategy for bid.market (host-configured)


class _BudgetRefused(GuardRefused):
    """Raised by the watcher's confirmation inside apply when the plan does not fit the rolling-day budget:
    nothing was sent, and the refusal leaves apply as a value (not decoded from an ApplyError)."""

    def __init__(self, refusal: str, actions: tuple[str, ...]) -> None:
        super().__init__(refusal)
        self.refusal = refusal
        self.actions = actions


def _pending_ids(plan: Plan) -> tuple[str, ...]:
    return tuple(a.id for a in plan.pending)


def _held(plan: Plan) -> tuple[Held, ...]:
    """The changes the plan holds back on purpose, for the run line (result `held` when nothing else is to do)."""
    return tuple(Held(a.id, a.reason, a.until) for a in plan.actions if a.status is Status.HELD)


def _held_until(held: tuple[Held, ...]) -> float:
    """When the last of them may go, for /metrics (0 when one of them has no known time)."""
    if not held or any(h.until is None for h in held):
        return 0.0
    return float(max(h.until or 0 for h in held))


class Watcher:
    def __init__(self, opts: WatchOptions) -> None:
        self.opts = opts
        ready(opts.state_dir)
        self.q: queue.Queue[Trigger] = queue.Queue()
        self.stopping = threading.Event()
        self.desired: Desired | None = None  # the last good desired state (in force while the files are invalid)
        self.state = WatchState(backoff=opts.backoff, resume_token=_read(opts.state_dir / RESUME_FILE))
        self.git_root = require_checkout(opts.path) if opts.git_pull else None
        self.git_blocked: PullResult | None = (
            None  # set by the poller's thread, reported by every run until a pull works
        )
        self.mode = "apply" if opts.auto_apply else "alert-only"  # the watcher's mode as of its last gate
        self.files = FileTrigger(self.q)
        self.poller = Poller(
            self.q,
            opts.poll,
            opts.interval,
            self.git_root,
            opts.git_pull,
            on_git=self._git_blocked,
            competitor_pace=opts.competitor_pace,
        )
        self._seen: tuple[Observed, Plan] | None = None  # the report's reading and plan, reused by the page
        self._answers: PriceAnswers | None = None  # the price command's answers of this run: asked once per run
        self._spent_last_day: int | None = None
        self._upstream_reading: Reading | None = None  # the forwarder's counters at the last run that read them
        self._upstreams: dict[str, UpstreamHealth] = {}  # each model's upstream as judged then
        self._serving_path: Path | None = None  # where state.serving is kept (the provider's folder, once known)
        self._usage: tuple[Path, usage_days.UsageDays] | None = None  # the provider's usage ledger and its file

    # --- loop -------------------------------------------------------------------------------------

    def serve(self) -> None:
        ready(self.opts.state_dir)
        self.files.watch(*self._watched(None))
        self.q.put(Trigger("start"))
        self.poller.start()
        try:
            while not self.stopping.is_set():
                try:
                    batch = [self.q.get(timeout=0.2)]
                except queue.Empty:
                    continue
                while True:
                    try:
                        batch.append(self.q.get_nowait())
                    except queue.Empty:
                        break
                self.run(batch)
        finally:
            self.files.stop()
            self.poller.stop()

    def _git_blocked(self, res: PullResult) -> None:
        """Every pull's outcome (the poller's thread): a refused one stands until a pull works again."""
        self.git_blocked = res if res.alert else None

    def _watched(self, desired: Desired | None) -> tuple[set[Path], set[Path]]:
        path = self.opts.path
        dirs = {path} if path.is_dir() else set()
        files = {path} if path.is_file() or not path.exists() else set()
        files |= {self.opts.state_dir / SUSPEND_FILE, self.opts.state_dir / RESUME_FILE}  # the pause switch
        if desired is not None:
            files |= {Path(s) for s in desired.sources} | file_references(desired)
        return files, dirs

    # --- one run ----------------------------------------------------------------------------------

    def run(self, batch: list[Trigger]) -> dict[str, Any]:
        """One run for a batch of triggers: its JSON line, also printed and counted in the metrics."""
        t0 = time.monotonic()
        run = RunFindings(
            ts=round(time.time(), 3),
            trigger=tuple(sorted({t.kind for t in batch})),
            trigger_detail=tuple(sorted({t.detail for t in batch if t.detail})),
            commit=self._commit(),
            member=self.opts.provider,
        )
        try:
            self._run(run)
        except Exception as exc:  # the watcher outlives any one run; messages carry no secret
            applying = run.gate is not None and run.gate.mode == "apply"  # an apply failed, not a read
            self._settle(run, Failed(f"{type(exc).__name__}: {exc}", applying))
        record = run.record(duration_ms=round((time.monotonic() - t0) * 1000))
        assert record.result is not None  # every run settles
        self.opts.metrics.run_finished(
            record.result,
            len(record.actions or ()),
            record.mor_spent_wei or 0,
            record.error or "",
            success=record.succeeded,
            desired_invalid=record.desired_invalid,
            held=len(record.held),
            held_until=_held_until(record.held),
        )
        line = record.to_json()
        self.opts.out(json.dumps(line, sort_keys=True))
        self._standing(run, line)
        return line

    def _standing(self, run: RunFindings, line: dict[str, Any]) -> None:
        """How the watcher stands after a run, for /metrics and the status page."""
        gate = run.gate
        backing_off = bool(gate and (gate.backing_off or gate.stopped_after_failures))
        b = self.state.backoff
        self.opts.metrics.standing(
            writer_conflict=self.state.conflict, failures=b.failures, backing_off=backing_off or b.failures > 0
        )
        if self.opts.board is None:
            return
        if gate is not None:
            self.mode = gate.mode
        held = line.get("held") or []
        status = WatcherStatus(
            mode=self.mode,  # a run that stopped before its gate (invalid files) leaves the watcher's mode as it was
            suspended=bool(gate and gate.suspended),
            writer_conflict=self.state.conflict,
            failures=b.failures,
            retry_after=b.next_allowed if b.failures else None,
            stopped_after_failures=b.stopped_for is not None and b.stopped_for == self.state.desired_fp,
            low_funds=run.low_funds,
            last_error=str(line.get("error") or ""),
            git_blocked=run.git.message if run.git else "",
            desired_invalid=run.invalid_error or "",
            blocked_manual=str(line.get("error") or "") if line.get("result") == "blocked-manual" else "",
            held=tuple(f"{h['action']}: {h['reason']}" for h in held),
        )
        self.opts.board.run_finished(line, status, self._spent_last_day)

    def _commit(self) -> str | None:
        if self.git_root is None:
            return None
        try:
            return head(self.git_root)
        except Exception:  # reporting only
            return None

    def _run(self, run: RunFindings) -> None:
        opts = self.opts
        self.state, run.resumed = self.state.resume(_read(opts.state_dir / RESUME_FILE))
        if self.git_blocked is not None:  # every run on an old commit says so, alerted once per reason
            run.git = self.git_blocked
            self._alert(run, git_blocked_alert(run.git))
        elif self.git_root is not None:
            self.state = self.state.cleared("git-blocked")
        desired = self._load(run)
        if desired is None:
            self._settle(run, InvalidDesired(run.invalid_error or "invalid desired state"))
            return
        network = resolve_network(desired.network, opts.environ)
        provider_dir = state_path(opts.state_dir, network, desired.provider.address)
        reader = ChainReader.connect(network, state_dir=None)
        signer = Web3.to_checksum_address(desired.signer.address)
        block0, nonce0 = reader.head(signer)
        self._endpoints_seen(reader.w3)
        admin = ForwarderAdmin.of(desired, opts.environ)
        version0 = admin.served_version() if admin is not None and admin.token else None
        run.provider, run.block = desired.provider.address, block0
        self._serving_memory(provider_dir, run, {m.model_id for m in desired.models if not m.absent})
        self._check_forwarder(run, admin if desired.proxy is not None else None)
        if run.forwarder is not None:
            self._fold_usage(provider_dir, run.forwarder.samples)
        if opts.auto_apply:
            self._check_writer(run, nonce0, Journal(journal_path(provider_dir)), signer)
        self._check_funds(run, reader, desired)
        gate = self.state.gate(
            auto_apply=opts.auto_apply,
            policy_suspend=desired.policy.suspend,
            switch_suspend=(opts.state_dir / SUSPEND_FILE).exists(),
            now=time.time(),
        )
        run.gate = gate
        opts.metrics.suspended = gate.suspended
        opts.metrics.auto_apply = gate.mode == "apply"
        self._seen = None
        self._answers = PriceAnswers.of(opts.price_command)  # every plan of this run reuses its answers
        try:
            outcome = self._apply(run, desired, provider_dir) if gate.mode == "apply" else self._report(desired, gate)
            run.outcome = outcome
            self._settle(run, outcome)
            if isinstance(outcome, Applied) and outcome.converged and desired.policy.auto_claim:
                run.claimed_wei = self._claim(desired, provider_dir)
            try:
                self._observe_for_page(desired, network, provider_dir)
            except Exception as exc:  # the page is reporting only: it never fails a run (no message: it may hold a URL)
                opts.err(f"status page: could not read the provider for the page ({type(exc).__name__})")
        finally:
            self._check_router(run, desired)
            target = ChainTarget(
                tuple(network.endpoints()),
                network.diamond,
                desired.provider.address,
                signer,
                admin,
                model_ids=tuple(m.model_id for m in desired.models if not m.absent),  # competitors' bids on them
            )
            self.poller.rebase(target, block0, nonce0, version0)
            self.files.watch(*self._watched(desired))

    def _observe_for_page(self, desired: Desired, network: Network, provider_dir: Path) -> None:
        """What the status page shows of this provider: the report's reading and plan, or (after an apply) one
        more reading; nothing when no page is served. A page load then reads only memory."""
        board = self.opts.board
        if board is None:
            return
        limit = desired.policy.max_spend_per_day
        self._spent_last_day = SpendLedger(provider_dir / "spend.jsonl").spent_last_day()
        board.provider(provider_dir, limit, self._spent_last_day)
        if board.sampler is not None:
            board.sampler.target(ForwarderAdmin.of(desired, self.opts.environ))
        self._seen = self._seen or plan_for(
            desired,
            self.opts.environ,
            state_dir=self.opts.state_dir,
            serving=self.state.serving,
            price_command=self._answers,
        )
        observed, plan = self._seen
        chain = observed.chain
        self.opts.metrics.funds(chain.signer_eth_balance, chain.payer_balance)
        refs = observed.refs.values
        usage = self._usage[1].days if self._usage is not None else {}
        board.usage_seen(usage)
        # competitors' bids and our rank for the page's market panel, ranked with the host's weights as the plan is
        market = market_for_page(desired, network, host_rating(self.opts.environ))
        board.observed(Observation(desired, chain, plan, network.name, dict(self._upstreams), market, refs))
        self.opts.metrics.margins_seen(today_rows(margin_section(desired, chain, usage, refs)))

    def _fold_usage(self, provider_dir: Path, samples: tuple[MetricSample, ...]) -> None:
        """What the forwarder's counters gained since the last run, into today's usage (`usage.json`, margins);
        nothing when its /metrics was not read."""
        path = provider_dir / usage_days.FILE
        if self._usage is None or self._usage[0] != path:
            self._usage = (path, usage_days.load(path))
        if not samples:
            return
        ledger = usage_days.fold(self._usage[1], usage_of(samples), day_of(time.time()))
        self._usage = (path, ledger)
        try:
            usage_days.save(path, ledger)
        except OSError as exc:  # reporting only: a run never fails for it
            self.opts.err(f"margins: could not write {path.name} ({exc.strerror or type(exc).__name__})")

    def _load(self, run: RunFindings) -> Desired | None:
        """Re-read the desired state: the one to act on in this run, or None (invalid files, nothing good before)."""
        files, _dirs = self._watched(self.desired)
        try:
            desired = self._read_desired()
        except ValidationFailed as exc:
            errors = [str(d) for d in exc.diagnostics if d.severity is Severity.ERROR]
            run.invalid_error = invalid_error(errors)
            self._alert(run, invalid_alert(errors, files_fingerprint(files)))
            if stops_on_invalid(run.trigger, have_last_good=self.desired is not None):
                return None
            return self.desired  # a timer or the chain: keep converging to the last good state
        self.state = self.state.desired_loaded(files_fingerprint({Path(s) for s in desired.sources}))
        self.desired = desired
        return desired

    def _read_desired(self) -> Desired:
        """The desired state on disk: the folder's one provider, or on a fleet this watcher's member (the whole
        fleet is loaded and checked, so a change elsewhere that breaks a fleet-wide rule stops this host too)."""
        opts = self.opts
        if opts.provider is None:
            return load_desired(opts.path, opts.environ, opts.given)[0]
        fleet = load_fleet(opts.path, opts.environ, opts.given)
        member = fleet.member(opts.provider)
        if opts.board is not None:
            opts.board.in_fleet(FleetPlace.of(fleet, member.name))
        return member.desired

    def _endpoints_seen(self, w3: Web3) -> None:
        """Each RPC endpoint's health, by its label, for /metrics."""
        pool = pool_of(w3.provider)
        if pool is not None:
            pool.refresh_heads(force=True)
            self.opts.metrics.endpoints_seen({h.label: int(h.state == "up") for h in pool.health})

    def _check_writer(self, run: RunFindings, nonce: int, journal: Journal, signer: str) -> None:
        mine = [t.nonce for t in journal.transactions() if t.sender.lower() == signer.lower() and t.nonce >= 0]
        self.state, alert = self.state.nonce_seen(nonce, mine)
        if alert is not None:
            self._alert(run, alert)
        run.writer_conflict = self.state.conflict

    def _serving_memory(
        self, provider_dir: Path, run: RunFindings | None = None, declared: set[str] | None = None
    ) -> None:
        """Since when the forwarder and each model's upstream have (not) served (policy.unserved), read back from
        the provider's state folder the first time a run knows the provider: a restarted watcher goes on from it.
        An unreadable file is a warning of the run and no memory. Models no longer `declared` are forgotten."""
        path = provider_dir / serving_file.FILE
        if path != self._serving_path:
            memory, warning = serving_file.load(path)
            self._serving_path = path
            self.state = replace(self.state, serving=memory)
            if warning is not None:
                self._warn(run, f"policy.unserved: {warning}")
        if declared is not None:
            before = self.state.serving
            self.state = replace(self.state, serving=declared_only(before, declared))
            self._serving_changed(run, before)

    def _warn(self, run: RunFindings | None, warning: str) -> None:
        self.opts.err(warning)
        if run is not None:
            run.step_warnings.append(warning)

    def _check_forwarder(self, run: RunFindings, admin: ForwarderAdmin | None) -> None:
        """The forwarder's health for the run line, /metrics and the webhook (down and back up, once per cause),
        and each model's upstream; since when they have (not) served, kept in the provider's folder."""
        before = self.state.serving
        health = probe(admin)
        run.forwarder = health
        self.opts.metrics.forwarder_seen(health.state)
        self.state, alerts = forwarder_seen(self.state, health)
        self.state = replace(self.state, serving=served_since(self.state.serving, health, int(time.time())))
        for alert in alerts:
            self._alert(run, alert)
        self._check_upstreams(run, health.samples)
        self._serving_changed(run, before)

    def _serving_changed(self, run: RunFindings | None, before: Serving) -> None:
        """Write the serving memory to the provider's folder when it changed since `before`."""
        if self.state.serving != before and self._serving_path is not None:
            warning = serving_file.save(self._serving_path, self.state.serving)
            if warning is not None:
                self._warn(run, f"policy.unserved: {warning}")

    def _check_router(self, run: RunFindings, desired: Desired) -> None:
        """The managed router's health (with `proxy.router`), for the run line, /metrics and the webhook: judged
        from the run's last reading (its /healthcheck is asked once per reading); asked now only when the run
        made none (it failed before its plan)."""
        router = desired.proxy.router if desired.proxy is not None else None
        if router is None:
            self.opts.metrics.router_seen("unknown")
            return
        health = judge_router(router.url, self._seen[0].router) if self._seen else probe_router(router.url)
        run.router = health
        self.opts.metrics.router_seen(health.state)
        self.state, alerts = router_seen(self.state, health)
        for alert in alerts:
            self._alert(run, alert)

    def _check_upstreams(self, run: RunFindings, samples: tuple[MetricSample, ...]) -> None:
        """Each model's upstream from what the forwarder's counters gained since the last run (the run line, /metrics,
        the page's model rows and the webhook). Unread /metrics (the forwarder down): every model unknown, no alert
        changes, and the last reading is kept to compare with."""
        if not samples:
            self._upstreams = {
                m: UpstreamHealth(m, "unknown", "the forwarder's /metrics not read") for m in self._upstreams
            }
        else:
            now = reading(samples)
            self._upstreams = judge_upstreams(self._upstream_reading, now, self._upstreams)
            self._upstream_reading = now
            memory = upstreams_served_since(self.state.serving, self._upstreams, int(time.time()))
            self.state = replace(self.state, serving=memory)
        run.upstreams = tuple(h for _m, h in sorted(self._upstreams.items()) if h.state in ("down", "degraded"))
        self.opts.metrics.upstreams_seen(self._upstreams)
        if samples:
            self.state, alerts = upstreams_seen(self.state, self._upstreams)
            for alert in alerts:
                self._alert(run, alert)

    def _check_funds(self, run: RunFindings, reader: ChainReader, desired: Desired) -> None:
        p = desired.policy
        if p.min_signer_eth is None and p.min_provider_mor is None:
            return
        eth, mor = reader.funds(desired.signer.address, desired.provider.address)
        lows = low_funds(eth, mor, p.min_signer_eth, p.min_provider_mor)
        run.low_funds = tuple(lows)
        low = {
            "eth": p.min_signer_eth is not None and eth < p.min_signer_eth,
            "mor": p.min_provider_mor is not None and mor < p.min_provider_mor,
        }
        self.opts.metrics.funds(eth, mor, low)
        self.state, alert = self.state.funds_seen(lows)
        if alert is not None:
            self._alert(run, alert)

    # --- apply or report --------------------------------------------------------------------------

    def _apply(
        self, run: RunFindings, desired: Desired, provider_dir: Path
    ) -> Applied | BudgetExceeded | BlockedManual:
        ledger = SpendLedger(provider_dir / "spend.jsonl")
        journal = Journal(journal_path(provider_dir))
        asked: list[Plan] = []  # the plan apply asked to confirm: a failure after it reports its actions
        reserved: list[tuple[str, int, set[str]]] = []  # its reservation: ref, wei, the journal's txs before it

        def within_budget(plan: Plan) -> bool:
            """apply's confirmation, under its lock and before anything is sent: the ledger reserves the plan's
            spend under policy.maxSpendPerDay, or refuses it."""
            asked.append(plan)
            spend = sum(a.cost.mor_out for a in plan.pending)
            what = f"plan {len(plan.pending)} action(s)"
            before = {t.tx_hash for t in journal.transactions()}
            ref = uuid.uuid4().hex[:16]
            refusal = ledger.reserve(spend, desired.policy.max_spend_per_day, what, ref=ref)
            if refusal is not None:
                raise _BudgetRefused(refusal, _pending_ids(plan))
            reserved.append((ref, spend, before))
            return True

        aopts = ApplyOptions(
            state_dir=self.opts.state_dir,
            receipt_timeout=self.opts.receipt_timeout,
            confirm=within_budget,
            progress=lambda line: self.opts.err(f"apply: {line}"),
            stop_requested=self.stopping.is_set,
            serving=self.state.serving,
            price_command=self._answers,
        )
        try:
            result = apply_desired(desired, self.opts.environ, aopts)
        except _BudgetRefused as refused:
            return BudgetExceeded(refused.actions, refused.refusal)
        except ManualStepNeeded as blocked:
            return BlockedManual(blocked.actions, blocked.steps)
        except Exception:  # confirmed, then failed part way (a revert, the endpoint, a proxy write...)
            if asked:
                run.failed_actions = _pending_ids(asked[-1])
                if reserved:
                    run.failed_so_far = self._settle_spend(ledger, journal, asked[-1], *reserved[-1])
            raise
        if asked and reserved:
            self._settle_spend(ledger, journal, asked[-1], *reserved[-1])
        if result.observed is not None:  # the page and the router's health read the last reading, not a new one
            self._seen = (result.observed, result.final or result.plan)
        return Applied(
            actions=_pending_ids(result.plan),
            applied=result.applied,
            converged=result.converged,
            still_pending=_pending_ids(result.final or result.plan),
            txs=len(result.txs),
            spent_wei=result.mor_out,
            notes=tuple(result.notes),
            summary=result.summary(),
            tx_hashes=tuple(t.tx_hash for t in result.txs),
            held=_held(result.final or result.plan),
        )

    def _settle_spend(
        self, ledger: SpendLedger, journal: Journal, plan: Plan, ref: str, reserved: int, before: set[str]
    ) -> SoFar | None:
        """After a confirmed apply: what the journal says it did, and the day's reservation corrected to it. Left
        as reserved when the journal cannot be read or a transaction cannot be priced (never under-count)."""
        try:
            sent = [t for t in journal.transactions() if t.tx_hash not in before]
        except (OSError, ValueError, TypeError) as exc:
            self.opts.err(f"spend ledger: journal unreadable, the reservation stands ({type(exc).__name__})")
            return None
        found = so_far(plan.pending, sent)
        if reserved > 0 and found.spent_wei is not None and found.spent_wei != reserved:
            what = f"settled: {len(found.done)} mined, {len(found.in_flight)} in flight of {len(plan.pending)}"
            try:
                ledger.settle(ref, found.spent_wei, what)
            except OSError as exc:
                self.opts.err(f"spend ledger: could not settle, the reservation stands ({type(exc).__name__})")
        return found

    def _report(self, desired: Desired, gate: Gate) -> Reported:
        observed, plan = plan_for(
            desired,
            self.opts.environ,
            state_dir=self.opts.state_dir,
            serving=self.state.serving,
            price_command=self._answers,
        )
        self._seen = (observed, plan)
        held = _held(plan)
        notes = report_notes(_pending_ids(plan), tuple(h.action for h in held), plan.proxy_unchecked)
        return Reported(_pending_ids(plan), tuple(plan.errors), tuple(gate.reasons()), held, notes)

    def _claim(self, desired: Desired, provider_dir: Path) -> int:
        network = resolve_network(desired.network, self.opts.environ)
        reader = ChainReader.connect(network, state_dir=self.opts.state_dir)
        account = load_signer(desired.signer, self.opts.environ)
        report = claim_journaled(
            reader, desired, account, provider_dir, network.legacy, lambda line: self.opts.err(f"claim: {line}")
        )
        return report.collected

    # --- the end of a run and alerts --------------------------------------------------------------

    def _settle(self, run: RunFindings, outcome: Outcome) -> None:
        self.state, run.verdict = self.state.settle(outcome, time.time())
        for alert in run.verdict.alerts:
            self._alert(run, alert)

    def _alert(self, run: RunFindings, alert: Alert) -> None:
        """Count it, list it in the run's line, and post it to the webhook once per distinct occurrence."""
        run.alerts.append(alert.event)
        self.state, post = self.state.notice(alert)
        if not post:
            return
        self.opts.metrics.alerted(alert.event)
        # a fleet member's alerts start with its name: several hosts may post to one channel
        summary = f"{self.opts.provider}: {alert.summary}" if self.opts.provider else alert.summary
        self.opts.err(f"alert {alert.event}: {summary}")
        if self.opts.webhook is None:
            return
        details = {**run.record().details(), **alert.extra}
        delivery = self.opts.webhook.send(alert.event, summary, details)
        if not delivery.ok:
            self.opts.err(f"webhook: {delivery.error}")
