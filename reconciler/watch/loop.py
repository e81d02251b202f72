"""`reconcile watch`: keep one provider converged (or report its drift) for as long as it runs.

The imperative shell of the watcher. Trigger threads (reconciler.watch.triggers) only enqueue; this one loop
drains the queue and runs, so runs never overlap. A run: re-read the desired state (an invalid one is reported
and never acted on; the last good one stays in force) -> decide the mode (watchgate: suspended, another writer,
backoff) -> apply through apply_desired (which plans, re-checks and journals) or only plan and report ->
one JSON line on stdout, metrics, webhook. Spend is reserved in the rolling-day ledger before anything is sent.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web3 import Web3

from reconciler.apply.executor import ApplyError, ApplyOptions, apply_desired, state_path
from reconciler.chain.artifacts import load_artifact
from reconciler.chain.journal import Journal
from reconciler.chain.networks import Network, resolve_network
from reconciler.chain.reader import ChainReader
from reconciler.chain.rpc import connect
from reconciler.chain.signer import load_signer
from reconciler.desired.diagnostics import DesiredStateError, Severity
from reconciler.desired.loader import load_desired
from reconciler.desired.model import Desired
from reconciler.desired.references import resolve
from reconciler.pipeline import plan_for
from reconciler.plan.model import Plan
from reconciler.sessions.claim import claim_journaled
from reconciler.watch.backoff import Backoff
from reconciler.watch.gate import Gate, budget_refusal, file_references, files_fingerprint, foreign_nonce, low_funds
from reconciler.watch.gitsync import PullResult, checkout_root, head
from reconciler.watch.ledger import SpendLedger
from reconciler.watch.metrics import WatchMetrics
from reconciler.watch.notify import Webhook
from reconciler.watch.triggers import ChainTarget, FileTrigger, Poller, Trigger, served_version

SUSPEND_FILE = "watch-suspend"
RESUME_FILE = "watch-resume"


def suspend(state_dir: Path, why: str = "") -> Path:
    """The pause switch: every watcher using this --state-dir only reports until `resume`."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / SUSPEND_FILE
    path.write_text(json.dumps({"ts": time.time(), "why": why}) + "\n")
    return path


def resume(state_dir: Path) -> None:
    """Lift the pause switch, and a writer-conflict or failure stop (the operator has looked)."""
    state_dir.mkdir(parents=True, exist_ok=True)
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
    git_pull: float | None = None
    webhook: Webhook | None = None
    metrics: WatchMetrics = field(default_factory=WatchMetrics)
    environ: Mapping[str, str] = field(default_factory=dict)
    out: Callable[[str], None] = print
    err: Callable[[str], None] = lambda _line: None
    backoff: Backoff = field(default_factory=Backoff)
    receipt_timeout: float = 300.0


class Watcher:
    def __init__(self, opts: WatchOptions) -> None:
        self.opts = opts
        self.q: queue.Queue[Trigger] = queue.Queue()
        self.stopping = threading.Event()
        self.desired: Desired | None = None
        self.desired_fp = ""
        self.backoff = opts.backoff
        self.conflict = False
        self.known_nonce: int | None = None
        self.last_alert: dict[str, str] = {}
        self.resume_seen = _read(opts.state_dir / RESUME_FILE)
        self.git_root = checkout_root(opts.path) if opts.git_pull else None
        self.git_blocked: PullResult | None = None
        self._refusal: str | None = None
        self._seen_plan: Plan | None = None
        self._reserved = 0
        self.files = FileTrigger(self.q)
        self.poller = Poller(self.q, opts.poll, opts.interval, self.git_root, opts.git_pull, on_git=self._git_blocked)

    # --- loop -------------------------------------------------------------------------------------

    def serve(self) -> None:
        self.opts.state_dir.mkdir(parents=True, exist_ok=True)
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
        self.git_blocked = res

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
        t0 = time.monotonic()
        kinds = sorted({t.kind for t in batch})
        rec: dict[str, Any] = {"event": "run", "ts": round(time.time(), 3), "trigger": kinds}
        details = [t.detail for t in batch if t.detail]
        if details:
            rec["triggerDetail"] = sorted(set(details))
        if self.git_root is not None:
            try:
                rec["commit"] = head(self.git_root)
            except Exception:  # reporting only
                pass
        try:
            self._run(kinds, rec)
        except Exception as exc:  # the watcher outlives any one run; messages carry no secret
            rec["result"] = "failed"
            rec["error"] = f"{type(exc).__name__}: {exc}"
            if self.desired is not None and rec.get("mode") == "apply":  # an apply failed, not a read
                self.backoff = self.backoff.failed(time.time(), self.desired_fp)
            self._alert("failure", f"watch run failed: {rec['error']}", rec, key=rec["error"])
        rec["durationMs"] = round((time.monotonic() - t0) * 1000)
        m = self.opts.metrics
        m.run_finished(rec["result"], len(rec.get("actions", [])), int(rec.get("morSpentWei", 0)), rec.get("error", ""))
        self.opts.out(json.dumps(rec, sort_keys=True))
        return rec

    def _run(self, kinds: list[str], rec: dict[str, Any]) -> None:
        opts = self.opts
        token = _read(opts.state_dir / RESUME_FILE)
        if token != self.resume_seen:
            self.resume_seen = token
            self.conflict = False
            self.backoff = self.backoff.succeeded()
            rec["resumed"] = True
        if "git-blocked" in kinds and self.git_blocked is not None:
            g = self.git_blocked
            rec["git"] = {"outcome": g.outcome, "message": g.message}
            self._alert("git-blocked", f"git pull: {g.message}", rec, key=g.message)
        if not self._load(kinds, rec):
            return
        desired = self.desired
        assert desired is not None
        network = resolve_network(desired.network, opts.environ)
        state = state_path(opts.state_dir, network, desired.provider.address)
        w3 = connect(network.rpc_url, network.rpc_label)
        signer = Web3.to_checksum_address(desired.signer.address)
        block0 = int(w3.eth.block_number)
        nonce0 = int(w3.eth.get_transaction_count(signer, "pending"))
        admin_token = self._admin_token(desired)
        version0 = (
            served_version(desired.proxy.admin_url, admin_token)
            if desired.proxy and desired.proxy.admin_url and admin_token
            else None
        )
        rec["provider"], rec["block"] = desired.provider.address, block0
        if opts.auto_apply:
            self._check_writer(nonce0, Journal(state / "journal.jsonl"), signer, rec)
        self._check_funds(w3, network, desired, rec)
        now = time.time()
        gate = Gate(
            auto_apply=opts.auto_apply,
            policy_suspend=desired.policy.suspend,
            switch_suspend=(opts.state_dir / SUSPEND_FILE).exists(),
            writer_conflict=self.conflict,
            backing_off=not self.backoff.may_apply(now, self.desired_fp),
            stopped_after_failures=self.backoff.stopped_for == self.desired_fp,
        )
        rec["mode"], rec["suspended"] = gate.mode, gate.suspended
        if gate.reasons():
            rec["reasons"] = gate.reasons()
        opts.metrics.suspended = gate.suspended
        opts.metrics.auto_apply = gate.mode == "apply"
        try:
            if gate.mode == "apply":
                self._apply(desired, state, rec)
            else:
                self._report(desired, rec)
        finally:
            target = ChainTarget(
                network.rpc_url,
                network.diamond,
                desired.provider.address,
                signer,
                desired.proxy.admin_url if desired.proxy else None,
                admin_token,
            )
            self.poller.rebase(target, block0, nonce0, version0)
            self.files.watch(*self._watched(desired))

    def _load(self, kinds: list[str], rec: dict[str, Any]) -> bool:
        """Re-read the desired state; False when this run must not act (invalid files, nothing good before)."""
        files, _dirs = self._watched(self.desired)
        try:
            desired, _warnings = load_desired(self.opts.path)
        except DesiredStateError as exc:
            errors = [str(d) for d in exc.diagnostics if d.severity is Severity.ERROR]
            fp = files_fingerprint(files)
            rec["desiredInvalid"] = True
            rec["error"] = "invalid desired state: " + "; ".join(errors[:5])
            self._alert(
                "invalid-desired-state",
                f"the desired state is invalid ({len(errors)} error(s)); nothing is done on it, the last good state "
                "stays in force",
                rec,
                key=fp,
                extra={"errors": errors[:20]},
            )
            if self.desired is None or {"file", "git", "start"} & set(kinds):
                rec["result"] = "invalid-desired-state"
                rec["actions"] = []
                return False
            return True  # a timer or the chain: keep converging to the last good state
        fp = files_fingerprint({Path(s) for s in desired.sources})
        if fp != self.desired_fp:
            self.backoff = self.backoff.desired_changed(fp)
        self.desired, self.desired_fp = desired, fp
        self.last_alert.pop("invalid-desired-state", None)
        return True

    def _admin_token(self, desired: Desired) -> str | None:
        if desired.proxy is None or desired.proxy.admin_token is None:
            return None
        return resolve(desired.proxy.admin_token, self.opts.environ)

    def _check_writer(self, nonce: int, journal: Journal, signer: str, rec: dict[str, Any]) -> None:
        mine = [t.nonce for t in journal.transactions() if t.sender.lower() == signer.lower() and t.nonce >= 0]
        known = max([self.known_nonce if self.known_nonce is not None else nonce, *(n + 1 for n in mine)])
        if not self.conflict and foreign_nonce(nonce, known):
            self.conflict = True
            self._alert(
                "writer-conflict",
                f"the signer's nonce is {nonce} but this watcher knows of transactions up to {known - 1}: another "
                "writer uses the key; auto-apply stops (only reports) until `reconcile watch --resume`",
                rec,
                key=str(nonce),
            )
        self.known_nonce = max(known, nonce)
        rec["writerConflict"] = self.conflict

    def _check_funds(self, w3: Web3, network: Network, desired: Desired, rec: dict[str, Any]) -> None:
        p = desired.policy
        if p.min_signer_eth is None and p.min_provider_mor is None:
            return
        eth = int(w3.eth.get_balance(Web3.to_checksum_address(desired.signer.address)))
        token = w3.eth.contract(address=Web3.to_checksum_address(network.mor), abi=load_artifact("MorToken").abi)
        mor = int(token.functions.balanceOf(Web3.to_checksum_address(desired.provider.address)).call())
        lows = low_funds(eth, mor, p.min_signer_eth, p.min_provider_mor)
        if lows:
            rec["lowFunds"] = lows
            self._alert(
                "low-funds", "low funds: " + "; ".join(lows), rec, key="|".join(sorted(x.split(" ")[0] for x in lows))
            )
        else:
            self.last_alert.pop("low-funds", None)

    # --- apply or report --------------------------------------------------------------------------

    def _confirm(self, plan: Plan) -> bool:
        """apply's confirmation: the rolling-day budget, reserved in the ledger before anything is sent."""
        self._seen_plan = plan
        desired = self.desired
        assert desired is not None
        planned = sum(a.cost.mor_out for a in plan.pending)
        refusal = budget_refusal(planned, self._ledger.spent_last_day(), desired.policy.max_spend_per_day)
        if refusal is not None:
            self._refusal = refusal
            return False
        self._ledger.record(planned, f"plan {len(plan.pending)} action(s)")
        self._reserved = planned
        return True

    def _apply(self, desired: Desired, state: Path, rec: dict[str, Any]) -> None:
        self._ledger = SpendLedger(state / "spend.jsonl")
        self._refusal, self._seen_plan, self._reserved = None, None, 0
        aopts = ApplyOptions(
            state_dir=self.opts.state_dir,
            receipt_timeout=self.opts.receipt_timeout,
            confirm=self._confirm,
            progress=lambda line: self.opts.err(f"apply: {line}"),
            stop_requested=self.stopping.is_set,
        )
        try:
            result = apply_desired(desired, self.opts.environ, aopts)
        except ApplyError as exc:
            if self._refusal is not None and self._seen_plan is not None:
                rec["actions"] = [a.id for a in self._seen_plan.pending]
                rec["result"] = "budget-exceeded"
                rec["error"] = self._refusal
                self._alert("failure", self._refusal, rec, key=self._refusal[:40])
                return
            if self._seen_plan is not None:
                rec["actions"] = [a.id for a in self._seen_plan.pending]
            raise exc
        rec["actions"] = [a.id for a in result.plan.pending]
        rec["txs"] = len(result.txs)
        rec["morSpentWei"] = str(result.fees + result.stake)
        if result.notes:
            rec["notes"] = result.notes
        if not result.converged:
            rec["result"] = "not-converged"
            rec["error"] = "still pending after apply: " + ", ".join(
                a.id for a in (result.final or result.plan).pending
            )
            self.backoff = self.backoff.failed(time.time(), self.desired_fp)
            self._alert("failure", rec["error"], rec, key=rec["error"])
            return
        self.backoff = self.backoff.succeeded()
        self.last_alert.pop("failure", None)
        self.last_alert.pop("drift", None)
        rec["result"] = "converged" if result.applied else "no-changes"
        if result.applied:
            self._alert("applied", f"applied {len(rec['actions'])} action(s): {result.summary()}", rec, key=None)
        if desired.policy.auto_claim:
            rec["claimedWei"] = str(self._claim(desired, state))

    def _report(self, desired: Desired, rec: dict[str, Any]) -> None:
        _observed, plan = plan_for(desired, self.opts.environ)
        rec["actions"] = [a.id for a in plan.pending]
        if plan.errors:
            rec["planErrors"] = list(plan.errors)
        if plan.pending:
            rec["result"] = "drift-reported"
            why = "; ".join(rec.get("reasons", []))
            self._alert(
                "drift",
                f"{len(plan.pending)} action(s) pending, not applied ({why})",
                rec,
                key="|".join(rec["actions"]),
            )
        else:
            rec["result"] = "no-changes"
            self.last_alert.pop("drift", None)

    def _claim(self, desired: Desired, state: Path) -> int:
        network = resolve_network(desired.network, self.opts.environ)
        reader = ChainReader.connect(network)
        account = load_signer(desired.signer, self.opts.environ)
        report = claim_journaled(
            reader, desired, account, state, network.legacy, lambda line: self.opts.err(f"claim: {line}")
        )
        return report.collected

    # --- alerts -----------------------------------------------------------------------------------

    def _alert(
        self,
        event: str,
        summary: str,
        rec: dict[str, Any],
        key: str | None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Count it, list it in the run's line, and post it to the webhook once per distinct occurrence."""
        rec.setdefault("alerts", []).append(event)
        if key is not None and self.last_alert.get(event) == key:
            return
        if key is not None:
            self.last_alert[event] = key
        self.opts.metrics.alerted(event)
        self.opts.err(f"alert {event}: {summary}")
        if self.opts.webhook is None:
            return
        fields = ("trigger", "mode", "suspended", "reasons", "actions", "result", "provider", "block", "commit")
        details = {k: rec[k] for k in fields if k in rec}
        details.update(extra or {})
        delivery = self.opts.webhook.send(event, summary, details)
        if not delivery.ok:
            self.opts.err(f"webhook: {delivery.error}")
