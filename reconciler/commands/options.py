"""Command-line options shared by several commands, so they read and default the same everywhere."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from reconciler import DEFAULT_STATE_DIR

F = TypeVar("F", bound=Callable[..., Any])


def state_dir_option(help_text: str) -> Callable[[F], F]:
    """`--state-dir`: where the per-provider journal and lock live (apply, approve, claim and watch share them)."""
    return click.option(
        "--state-dir", type=click.Path(path_type=Path), default=DEFAULT_STATE_DIR, show_default=True, help=help_text
    )


def provider_option(help_text: str) -> Callable[[F], F]:
    """`--provider NAME` (repeatable where a command takes several): a provider of a fleet folder, by its name in
    fleet.yaml (reconciler.desired.fleet); the writing commands take exactly one (commands/fleet_members.py)."""
    return click.option("--provider", "providers", metavar="NAME", multiple=True, help=help_text)


def trust_host_option(f: F) -> F:
    """`--trust-host HOST` (repeatable): a host the forwarder's admin token and the router's admin auth may be sent
    to besides loopback, added to `RECONCILE_TRUSTED_HOSTS` (reconciler.observe.destinations). Outside the
    desired state on purpose: a pull request edits the YAML, not the operator's command line or environment."""
    return click.option(
        "--trust-host",
        "trust_hosts",
        metavar="HOST",
        multiple=True,
        help="Send the forwarder's admin token (and the router's admin auth) to HOST too; loopback is always "
        "trusted, any other host only when given here or in RECONCILE_TRUSTED_HOSTS. Repeatable.",
    )(f)


def keystore_options(f: F) -> F:
    """`--keystore` + `--password-ref`: the provider wallet's key kept encrypted (approve, delegate), the same on both."""
    f = click.option(
        "--password-ref",
        metavar="REF",
        help="The --keystore password: env:NAME or file:PATH, never the password itself (default: asked, hidden).",
    )(f)
    return click.option(
        "--keystore",
        type=click.Path(path_type=Path),
        help="The PROVIDER wallet's encrypted JSON keystore, instead of --key-ref.",
    )(f)


def weights_option(f: F) -> F:
    """`--weights FILE` (or RECONCILE_WEIGHTS): the rating config this host's buyers' routers run, which the
    `bid.market` policies, `reconcile market` and the status page's market panel score with instead of the
    router's default weights; host-side, never in the desired state (reconciler.observe.market_input.host_rating
    resolves it, flag over variable over defaults)."""
    return click.option(
        "--weights",
        "weights_file",
        type=click.Path(path_type=Path),
        envvar="RECONCILE_WEIGHTS",
        help="Rank the market (bid.market prices, `reconcile market`, the status page's market panel) with the "
        "weights of this proxy-router rating config (RATING_CONFIG_PATH's JSON: algorithm `default`, "
        "params.weights, providerAllowlist) instead of the router's default ones. Default: RECONCILE_WEIGHTS.",
    )(f)


def price_command_options(f: F) -> F:
    """`--price-command CMD` (or RECONCILE_PRICE_COMMAND) and its timeout: the operator's own pricing strategy for
    `bid.market` bids, run by apply and watch on this host only (reconciler.observe.price_command); never part of
    the desired state, and never run by `plan`."""
    f = click.option(
        "--price-command-timeout",
        type=click.FloatRange(min=0.1),
        default=10.0,
        show_default=True,
        help="Seconds the price command may take per model; past it the bid is left as it is.",
    )(f)
    return click.option(
        "--price-command",
        metavar="CMD",
        envvar="RECONCILE_PRICE_COMMAND",
        help="Price bid.market bids with this command: the model's market as JSON on stdin, a price on stdout "
        "(an integer of wei, or an amount like '0.0045 MOR'), bounded by the policy's floor and ceiling. "
        "Default: RECONCILE_PRICE_COMMAND.",
    )(f)
