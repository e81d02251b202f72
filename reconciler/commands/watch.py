"""`reconcile watch`: the long-running server of one provider (see docs/watch.md).

Only click and the signal handling live here; the loop is reconciler.watch.loop (imported when it runs, so other
commands start fast). SIGTERM (or a first Ctrl-C) stops sending, waits for what was sent, exits 0; a second
Ctrl-C exits at once (the journal makes that safe).
"""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import click

from reconciler.commands.options import (
    price_command_options,
    provider_option,
    state_dir_option,
    trust_host_option,
    weights_option,
)
from reconciler.commands.outcome import EXIT_ERROR, EXIT_OK, handled, say


@dataclass(frozen=True)
class HttpAccess:
    """Who else the HTTP surface serves (without a token) and how long a login lasts."""

    hosts: tuple[str, ...] = ()
    origins: tuple[str, ...] = ()
    cookie_max_age: float = 7 * 86400


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter("expected HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:9310")
    return host or "127.0.0.1", int(port)


@click.command("watch")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option(
    "--interval",
    type=click.FloatRange(min=1.0),
    default=60.0,
    show_default=True,
    help="Re-plan at least this often (s).",
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.1),  # a zero or negative wait would spin a core
    default=2.0,
    show_default=True,
    help="How often to look for new blocks with this provider's events, the signer's nonce and the forwarder's "
    "served config version (s).",
)
@click.option(
    "--auto-apply/--alert-only",
    default=False,
    help="--auto-apply: apply drift. --alert-only (the default): only report it.",
)
@click.option(
    "--http-listen",
    "--metrics-listen",
    "metrics_listen",
    metavar="HOST:PORT",
    help="Serve the status page, /metrics and /healthz here (off loopback only with --http-token).",
)
@click.option(
    "--http-token",
    metavar="REF",
    help="env:NAME or file:PATH holding the token for the HTTP surface: a bearer token for /metrics, typed once "
    "into the page's login form (never printed). Required off loopback.",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Without --http-token, also serve requests whose Host is NAME (repeatable); other names get 421.",
)
@click.option(
    "--allow-origin",
    "allow_origins",
    multiple=True,
    metavar="ORIGIN",
    help="Without --http-token, also serve web pages of ORIGIN, e.g. https://grafana.example (repeatable); other "
    "origins get 403.",
)
@click.option(
    "--http-cookie-days",
    type=click.FloatRange(min=0, min_open=True),
    default=7.0,
    show_default=True,
    help="A login on the status page lasts this long; then the form asks for the token again.",
)
@click.option("--no-page", is_flag=True, help="Serve only /metrics and /healthz (no status page, no extra reading).")
@click.option(
    "--git-pull", type=click.FloatRange(min=0.1), metavar="SECONDS", help="Fast-forward PATH's git checkout this often."
)
@state_dir_option("Journal, lock and spend tally (shared with apply); --suspend/--resume act on this.")
@click.option("--webhook", metavar="REF", help="env:NAME or file:PATH holding the webhook URL (never printed).")
@click.option(
    "--max-failures", type=click.IntRange(min=1), default=5, show_default=True, help="Stop applying after N failures."
)
@click.option(
    "--backoff",
    "backoff_base",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="First retry delay (s).",
)
@click.option("--suspend", is_flag=True, help="Pause auto-apply of the watchers using --state-dir, then exit.")
@click.option("--resume", "resume_", is_flag=True, help="Lift --suspend (and a writer-conflict stop), then exit.")
@trust_host_option
@provider_option("On a fleet folder (required there): the provider this host's watcher keeps converged.")
@price_command_options
@weights_option
def watch_cmd(
    path: Path | None,
    interval: float,
    poll: float,
    auto_apply: bool,
    metrics_listen: str | None,
    git_pull: float | None,
    state_dir: Path,
    webhook: str | None,
    max_failures: int,
    backoff_base: float,
    suspend: bool,
    resume_: bool,
    http_token: str | None,
    allow_hosts: tuple[str, ...],
    allow_origins: tuple[str, ...],
    http_cookie_days: float,
    no_page: bool,
    trust_hosts: tuple[str, ...],
    providers: tuple[str, ...],
    price_command: str | None,
    price_command_timeout: float,
    weights_file: Path | None,
) -> None:
    """Keep the provider converged: re-plan on file, chain, forwarder, git and timer changes; apply or alert."""
    sys.exit(
        run_watch(
            path,
            interval,
            poll,
            auto_apply,
            metrics_listen,
            git_pull,
            state_dir,
            webhook,
            max_failures,
            backoff_base,
            suspend,
            resume_,
            http_token,
            not no_page,
            HttpAccess(allow_hosts, allow_origins, http_cookie_days * 86400),
            trust_hosts,
            providers,
            price_command=price_command,
            price_command_timeout=price_command_timeout,
            weights_file=weights_file,
        )
    )


@handled
def run_watch(
    path: Path | None,
    interval: float,
    poll: float,
    auto_apply: bool,
    metrics_listen: str | None,
    git_pull: float | None,
    state_dir: Path,
    webhook_ref: str | None,
    max_failures: int,
    backoff_base: float,
    suspend: bool,
    resume_: bool,
    http_token_ref: str | None = None,
    page: bool = True,
    access: HttpAccess | None = None,
    trust_hosts: tuple[str, ...] = (),
    providers: tuple[str, ...] = (),
    price_command: str | None = None,
    price_command_timeout: float = 10.0,
    weights_file: Path | None = None,
) -> int:
    from reconciler import ReconcileError
    from reconciler.commands.fleet_members import watched_provider
    from reconciler.desired.references import BadReference, parse_reference, resolve
    from reconciler.desired.secrets import SecretUse, flag_uses
    from reconciler.observe.destinations import with_trusted_hosts
    from reconciler.observe.market_input import with_weights
    from reconciler.observe.price_command import PriceCommand
    from reconciler.status.auth import refusal, token_refusal
    from reconciler.status.board import Board
    from reconciler.status.forwarder_figures import Sampler
    from reconciler.status.server import WatchServer
    from reconciler.watch import loop as watchloop
    from reconciler.watch.backoff import Backoff
    from reconciler.watch.metrics import WatchMetrics
    from reconciler.watch.notify import Webhook

    if suspend and resume_:
        click.echo("error: --suspend and --resume together", err=True)
        return EXIT_ERROR
    if suspend:  # a --state-dir that is a file, or cannot be written: a StateUnusable, said by @handled
        watchloop.suspend(state_dir, "reconcile watch --suspend")
        click.echo(f"suspended: watchers using --state-dir {state_dir} only report until `reconcile watch --resume`")
        return EXIT_OK
    if resume_:
        watchloop.resume(state_dir)
        click.echo(f"resumed: watchers using --state-dir {state_dir} apply again (writer-conflict stop lifted)")
        return EXIT_OK
    if path is None:
        click.echo("error: give the desired-state PATH to watch", err=True)
        return EXIT_ERROR
    hook = None
    hook_ref = token_ref = None
    if webhook_ref:
        try:
            hook_ref = parse_reference(webhook_ref, Path.cwd())
        except BadReference as exc:
            raise BadReference(f"--webhook: {exc}") from None
        url = resolve(hook_ref, os.environ)
        if url is None:
            click.echo(f"error: --webhook {webhook_ref} has no value here", err=True)
            return EXIT_ERROR
        hook = Webhook(url)
    token = None
    if http_token_ref:
        try:
            token_ref = parse_reference(http_token_ref, Path.cwd())
            token = resolve(token_ref, os.environ)
        except BadReference as exc:
            raise BadReference(f"--http-token: {exc}") from None
        token = (token or "").strip() or None
        if token is None:
            click.echo(f"error: --http-token {http_token_ref} has no value here", err=True)
            return EXIT_ERROR
    # held to the desired state's secrets' rules at each load: one role per value
    given: tuple[SecretUse, ...] = flag_uses(webhook=hook_ref, page_token=token_ref)
    environ = with_weights(with_trusted_hosts(os.environ, trust_hosts), weights_file)
    provider = watched_provider(path, providers, environ, given)  # a fleet: this host's provider, or refused
    metrics = WatchMetrics(auto_apply=auto_apply, provider=provider or "")
    server = None
    board = None
    if metrics_listen:
        try:
            host, port = _host_port(metrics_listen)
        except click.BadParameter as exc:
            click.echo(f"error: --http-listen: {exc.message}", err=True)
            return EXIT_ERROR
        why = refusal(host, token) or (token_refusal(token) if token is not None else None)
        if why is not None:
            click.echo(f"error: {why}", err=True)
            return EXIT_ERROR
        board = Board(state_dir, Sampler()) if page else None
        try:
            access = access or HttpAccess()
            server = WatchServer(
                metrics,
                host,
                port,
                token,
                board.doc if board else None,
                allow_hosts=access.hosts,
                allow_origins=access.origins,
                cookie_max_age=access.cookie_max_age,
            ).start()
        except OSError as exc:
            click.echo(f"error: --http-listen {metrics_listen}: {exc.strerror or exc}", err=True)
            return EXIT_ERROR
        if board is not None and board.sampler is not None:
            board.sampler.start()

    def out(line: str) -> None:
        click.echo(line)
        sys.stdout.flush()

    opts = watchloop.WatchOptions(
        path=path,
        state_dir=state_dir,
        auto_apply=auto_apply,
        interval=interval,
        poll=poll,
        git_pull=git_pull,
        webhook=hook,
        given=given,
        metrics=metrics,
        environ=environ,
        provider=provider,
        out=out,
        err=lambda line: say(line, err=True),
        backoff=Backoff(base=backoff_base, cap=max(600.0, backoff_base), max_failures=max_failures),
        board=board,
        price_command=PriceCommand(price_command, price_command_timeout) if price_command else None,
    )
    try:
        watcher = watchloop.Watcher(opts)
    except ReconcileError:  # --git-pull outside a git checkout, a --state-dir that cannot be used: said by @handled
        if server is not None:
            server.stop()
        raise
    interrupts = 0

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        nonlocal interrupts
        if signum == signal.SIGINT:
            interrupts += 1
            if interrupts >= 2:
                os._exit(130)  # the journal keeps what was sent safe; the next start resumes it
        watcher.stopping.set()  # first: the message below can fail, the stop must not
        try:
            click.echo(f"{signal.Signals(signum).name}: finishing what was sent, then exiting", err=True)
        except RuntimeError:  # the signal landed inside a write to stderr (a reentrant call): the stop stands
            pass

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    where = ""
    if server is not None:
        where = f", {'status page and ' if board else ''}metrics on http://{metrics_listen}/"
    which = f" (provider {provider})" if provider else ""
    click.echo(f"watching {path}{which} ({'auto-apply' if auto_apply else 'alert-only'}{where})", err=True)
    try:
        watcher.serve()
    finally:
        if server is not None:
            server.stop()
        if board is not None and board.sampler is not None:
            board.sampler.stop()
    click.echo("stopped", err=True)
    return EXIT_OK
