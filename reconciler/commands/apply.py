"""`reconcile apply`: plan (or load a saved plan), confirm, execute, re-plan; exit 0 only when converged.

The executor (web3) is imported when the command runs, so `reconcile --help` starts without it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler import FileUnusable
from reconciler.commands.options import (
    price_command_options,
    provider_option,
    state_dir_option,
    trust_host_option,
    weights_option,
)
from reconciler.commands.outcome import EXIT_ERROR, EXIT_OK, handled, say

if TYPE_CHECKING:
    from reconciler.apply.run import ApplyOptions
    from reconciler.desired.model import Desired
    from reconciler.plan.model import Plan


def _echo_err(line: str) -> None:
    say(line, err=True)


class SavedPlanUnreadable(FileUnusable):
    """The file given to `apply --plan` is no plan saved by `plan --out` (unreadable, not JSON, edited, foreign):
    named by what is wrong in it, never read half-way into a crash. Nothing was planned, locked or sent."""

    def __init__(self, plan_file: Path, why: str) -> None:
        super().__init__(f"cannot read the saved plan {plan_file} ({why})")


def _read_saved_plan(plan_file: Path) -> Plan:
    """The plan saved by `plan --out`, checked against its schema first."""
    import jsonschema
    from jsonschema.exceptions import best_match

    from reconciler.desired.schema import load_schema
    from reconciler.plan.codec import plan_from_json

    try:
        data = json.loads(plan_file.read_text())
    except (OSError, ValueError) as exc:  # ValueError: not JSON (or not text)
        raise SavedPlanUnreadable(plan_file, f"{type(exc).__name__}: {exc}") from None
    wrong = best_match(jsonschema.Draft202012Validator(load_schema("plan.schema.json")).iter_errors(data))
    if wrong is not None:
        where = "/".join(str(p) for p in wrong.absolute_path) or "the top level"
        what = wrong.message if len(wrong.message) <= 160 else wrong.message[:160] + "…"
        raise SavedPlanUnreadable(plan_file, f"not a plan saved by `reconcile plan --out`: at {where}: {what}")
    try:
        return plan_from_json(data)
    except (ValueError, KeyError, TypeError) as exc:  # past the schema: another format_version
        raise SavedPlanUnreadable(plan_file, f"{type(exc).__name__}: {exc}") from None


def _confirm_with(auto_approve: bool) -> object:
    from reconciler.apply.refusals import ApplyError
    from reconciler.commands.confirm import require_terminal
    from reconciler.render.text import render_text, use_color

    def confirm(plan: Plan) -> bool:
        click.echo(render_text(plan, color=use_color(sys.stdout)), nl=False)
        if auto_approve:
            return True
        require_terminal("apply", ApplyError)
        answer = click.prompt("Apply these changes? Only 'yes' is accepted", default="", show_default=False)
        return bool(answer.strip() == "yes")

    return confirm


@click.command("apply")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--plan", "plan_file", type=click.Path(path_type=Path), help="Apply a plan saved by `plan --out`.")
@click.option(
    "--yes",
    "--auto-approve",
    "auto_approve",
    is_flag=True,
    help="Send without asking for confirmation (required without a terminal). --auto-approve: the old name; "
    "it has nothing to do with `reconcile approve` (the MOR allowance).",
)
@state_dir_option("Where the journal and lock live (keep it: a rerun resumes from it).")
@click.option("--legacy-tx", is_flag=True, help="Send legacy (gasPrice) transactions, for chains without EIP-1559.")
@click.option("--speed-up", is_flag=True, help="Replace journaled transactions still pending with a higher fee.")
@click.option(
    "--receipt-timeout",
    type=click.FloatRange(min=1.0),
    default=300.0,
    show_default=True,
    help="Seconds to wait per batch.",
)
@trust_host_option
@provider_option("The fleet's provider this host writes for (required on a fleet folder; one per host).")
@click.option(
    "--all-providers",
    is_flag=True,
    help="On a fleet whose providers are all on a devnet: apply every one of them in turn (refused elsewhere).",
)
@price_command_options
@weights_option
def apply_cmd(
    path: Path | None,
    plan_file: Path | None,
    auto_approve: bool,
    state_dir: Path,
    legacy_tx: bool,
    speed_up: bool,
    receipt_timeout: float,
    trust_hosts: tuple[str, ...],
    providers: tuple[str, ...],
    all_providers: bool,
    price_command: str | None,
    price_command_timeout: float,
    weights_file: Path | None,
) -> None:
    """Plan PATH (or load --plan), confirm, send the transactions and write the proxy configs; exit 0 when converged."""
    sys.exit(
        run_apply(
            path,
            plan_file,
            auto_approve,
            state_dir,
            legacy_tx,
            speed_up,
            receipt_timeout,
            trust_hosts,
            providers=providers,
            all_providers=all_providers,
            price_command=price_command,
            price_command_timeout=price_command_timeout,
            weights_file=weights_file,
        )
    )


def _count_spend(desired: Desired, environ: Mapping[str, str], state_dir: Path, wei: int, txs: int) -> None:
    """A manual apply's MOR goes into the provider's rolling-day tally (STATE/.../spend.jsonl) as a watcher's
    does, so the status page's "spent in the last 24 h" and policy.maxSpendPerDay see every apply of this state
    directory (never refused by it: a person confirmed it). A tally that cannot be written is a warning."""
    if wei <= 0:
        return
    from reconciler.apply.writer import state_path
    from reconciler.chain.networks import resolve_network
    from reconciler.watch.ledger import SpendLedger

    try:
        provider_dir = state_path(state_dir, resolve_network(desired.network, environ), desired.provider.address)
        SpendLedger(provider_dir / "spend.jsonl").record(wei, f"reconcile apply: {txs} transaction(s)")
    except OSError as exc:
        _echo_err(f"warning: the day's spend tally could not be written ({exc.strerror or type(exc).__name__})")


@handled
def run_apply(
    path: Path | None,
    plan_file: Path | None,
    auto_approve: bool,
    state_dir: Path,
    legacy_tx: bool,
    speed_up: bool,
    receipt_timeout: float,
    trust_hosts: tuple[str, ...] = (),
    *,
    providers: tuple[str, ...] = (),
    all_providers: bool = False,
    price_command: str | None = None,
    price_command_timeout: float = 10.0,
    weights_file: Path | None = None,
) -> int:
    from reconciler.apply.run import ApplyOptions
    from reconciler.commands.fleet_members import FleetWriteRefused, check_selection, writer_targets
    from reconciler.observe.destinations import with_trusted_hosts
    from reconciler.observe.market_input import with_weights
    from reconciler.observe.price_command import PriceCommand

    saved: Plan | None = None
    if plan_file is not None:
        saved = _read_saved_plan(plan_file)
        if path is None:
            if len(saved.sources) != 1:
                _echo_err("error: give the desired-state PATH the plan was made from")
                return EXIT_ERROR
            path = Path(saved.sources[0])
    if path is None:
        _echo_err("error: give a desired-state PATH (or --plan PLANFILE)")
        return EXIT_ERROR
    check_selection(path, providers, all_providers)  # before anything is read or asked
    if saved is not None and all_providers:
        raise FleetWriteRefused("a saved plan is one provider's: give --provider NAME with --plan, not --all-providers")
    opts = ApplyOptions(
        state_dir=state_dir,
        legacy_tx=True if legacy_tx else None,
        speed_up=speed_up,
        receipt_timeout=receipt_timeout,
        saved_plan=saved,
        confirm=_confirm_with(auto_approve),  # type: ignore[arg-type]
        progress=_echo_err,
        price_command=PriceCommand(price_command, price_command_timeout) if price_command else None,
    )
    environ = with_weights(with_trusted_hosts(os.environ, trust_hosts), weights_file)
    targets = writer_targets(path, providers, all_providers, environ)
    code = EXIT_OK
    for target in targets:
        if len(targets) > 1:
            say(f"provider {target.name}:")
        for w in target.warnings:
            _echo_err(str(w))
        code = max(code, _apply_one(target.desired, environ, state_dir, opts))
    return code


def _apply_one(desired: Desired, environ: Mapping[str, str], state_dir: Path, opts: ApplyOptions) -> int:
    """Apply one provider's desired state; its exit code (0: converged)."""
    from reconciler.apply.run import apply_desired
    from reconciler.render.text import render_text

    result = apply_desired(desired, environ, opts)
    _count_spend(desired, environ, state_dir, result.mor_out, len(result.txs))
    for note in result.notes:
        say(note)
    if not result.applied and not result.txs and result.final is not None:  # no plan was shown: its warnings
        for warning in result.final.warnings:
            _echo_err(f"warning: {warning}")
    if result.applied or result.txs:  # or an earlier run's transactions, re-sent and mined here
        say(result.summary())
    if result.final is not None and result.final.pending:
        click.echo("not converged: still pending after apply:", err=True)
        click.echo(render_text(result.final, color=False), err=True, nl=False)
        return EXIT_ERROR
    reported = result.final.summary() if result.final else None
    if reported and (reported.held or reported.draining or reported.restart_required or reported.manual):
        click.echo(
            f"converged; reported: {reported.held} held, {reported.draining} draining, "
            f"{reported.restart_required} restart-required, {reported.manual} manual"
        )
    else:
        click.echo("converged")
    return EXIT_OK
