"""The `morpheus-proxy` command line.

    morpheus-proxy --config PATH [--listen HOST:PORT] [--admin-listen HOST:PORT] [--settings FILE] [flags]

Tokens come from MORPHEUS_PROXY_CLIENT_TOKEN / MORPHEUS_PROXY_ADMIN_TOKEN or --client-token-file /
--admin-token-file; they are never printed. A non-loopback --listen without a client token refuses to start;
without one, web pages are kept out (--allow-host, --allow-origin: proxy/browsers.py).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import resource
import sys
from pathlib import Path

from proxy import __version__
from proxy.exceptions import ConfigError, SettingsError
from proxy.server import is_loopback, parse_hostport, serve
from proxy.settings import Settings, load_settings_file
from proxy.state import ProxyState

# Flags that map onto Settings fields (name, type, help).
_SETTING_FLAGS: list[tuple[str, type, str]] = [
    ("connect_timeout", float, "seconds to connect to an upstream (default 10)"),
    ("ttfb_timeout", float, "seconds from sending to the upstream's first byte (default 300)"),
    ("idle_timeout", float, "max seconds of upstream silence inside a response (default 120)"),
    ("total_timeout", float, "max seconds for a whole request (default 900)"),
    ("keepalive_interval", float, "seconds between SSE keep-alive comments while a stream waits (default 15)"),
    ("default_max_tokens", int, "max_tokens for claudeai requests that set none (default 4096)"),
    ("anthropic_version", str, "anthropic-version header (default 2023-06-01)"),
    ("wait_queue", int, "requests per model that may wait for a free slot (default 0: 429 at once)"),
    ("wait_timeout", float, "seconds a queued request waits before its 429 (default 2)"),
    ("retry_after", int, "Retry-After seconds in 429 answers (default 1)"),
    ("failure_budget", int, "upstream failures allowed per window per upstream account (default 15, 0 = off)"),
    ("failure_window", float, "failure budget window in seconds (default 30)"),
    ("drain_grace", float, "SIGTERM: seconds in-flight requests get to finish (default 30)"),
    ("watch_debounce_ms", int, "debounce of config-file change events (default 300)"),
    ("pool_limit", int, "upstream connection pool size, raised to the sum of slots; 0 = no cap (default 0)"),
    ("max_body_bytes", int, "largest request body accepted (default 64 MiB)"),
    ("max_json_body_bytes", int, "largest JSON request body (chat, embeddings, speech; default 16 MiB)"),
    ("request_read_timeout", float, "seconds to read a request body from the client (default 60)"),
    ("max_response_bytes", int, "largest buffered (non-stream) upstream answer (default 64 MiB)"),
    (
        "max_buffered_bytes",
        int,
        "buffered answers held at once, all models together; past it new ones wait, then 503 (default 1 GiB)",
    ),
    ("write_timeout", float, "seconds to write a buffered answer to the client once it is ready (default 120)"),
    ("max_error_body_bytes", int, "upstream error bodies are read up to this (default 64 KiB)"),
    ("max_stream_bytes", int, "largest streamed answer relayed, SSE or audio (default 256 MiB)"),
    ("max_decoded_bytes", int, "what a compressed upstream answer may inflate to (default 16 MiB)"),
    (
        "upstream_keepalive_s",
        float,
        "seconds an idle upstream connection is kept (default 4; Keep-Alive: timeout= wins)",
    ),
]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="morpheus-proxy", description="Forward OpenAI-shaped requests to hosted upstreams."
    )
    p.add_argument("--config", required=True, help="models-config.json (the proxy-router's format)")
    p.add_argument("--version", action="version", version=f"morpheus-proxy {__version__}")
    p.add_argument(
        "--listen",
        default="127.0.0.1:8090",
        help="data plane HOST:PORT (default 127.0.0.1:8090); a non-loopback address needs a client token "
        "(--client-token-file or $MORPHEUS_PROXY_CLIENT_TOKEN), else the proxy refuses to start",
    )
    p.add_argument("--admin-listen", default="127.0.0.1:8091", help="control plane HOST:PORT (default 127.0.0.1:8091)")
    p.add_argument("--settings", help="settings file (YAML or JSON) with any of the settings below; flags win")
    p.add_argument(
        "--client-token-file", help="file holding the data-plane bearer token (else $MORPHEUS_PROXY_CLIENT_TOKEN)"
    )
    p.add_argument("--admin-token-file", help="file holding the admin bearer token (else $MORPHEUS_PROXY_ADMIN_TOKEN)")
    p.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="without a client token, also serve requests whose Host is NAME (repeatable; loopback names always)",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="without a client token, also serve requests from web pages of ORIGIN, e.g. https://app.example "
        "(repeatable; other origins get 403)",
    )
    p.add_argument(
        "--no-watch", action="store_true", help="do not reload when the config file changes (SIGHUP and admin only)"
    )
    p.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="log lines on stderr from this level up (default INFO); no level ever logs a key or token",
    )
    for name, typ, help_ in _SETTING_FLAGS:
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, default=None, help=help_)
    return p


def _token(file_arg: str | None, env: str) -> str | None:
    if file_arg:
        token = Path(file_arg).read_text(encoding="utf-8").strip()
    else:
        token = os.environ.get(env, "").strip()
    return token or None


def _raise_nofile() -> None:
    """Thousands of open streams need thousands of sockets: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    try:
        overrides = load_settings_file(args.settings) if args.settings else {}
        overrides.update(
            {name: getattr(args, name) for name, _, _ in _SETTING_FLAGS if getattr(args, name) is not None}
        )
        settings = Settings().replace(**overrides)
        listen = parse_hostport(args.listen)
        admin_listen = parse_hostport(args.admin_listen)
        client_token = _token(args.client_token_file, "MORPHEUS_PROXY_CLIENT_TOKEN")
        admin_token = _token(args.admin_token_file, "MORPHEUS_PROXY_ADMIN_TOKEN")
    except (SettingsError, ValueError, OSError) as exc:
        print(f"morpheus-proxy: {exc}", file=sys.stderr)
        sys.exit(1)
    if client_token is None and not is_loopback(listen[0]):
        print(
            f"morpheus-proxy: refusing to listen on {listen[0]} without a client token: it would be an open relay "
            "spending your upstream keys. Set MORPHEUS_PROXY_CLIENT_TOKEN or --client-token-file.",
            file=sys.stderr,
        )
        sys.exit(1)
    state = ProxyState(
        args.config,
        settings,
        client_token=client_token,
        admin_token=admin_token,
        metrics_open=is_loopback(admin_listen[0]),
        allow_hosts=args.allow_host,
        allow_origins=args.allow_origin,
    )
    try:
        state.load_initial()
    except ConfigError as exc:
        print(f"morpheus-proxy: {exc.source}: invalid models-config:", file=sys.stderr)
        for err in exc.errors:
            print(f"  {err}", file=sys.stderr)
        sys.exit(1)
    _raise_nofile()
    try:
        asyncio.run(serve(state, listen, admin_listen, watch=not args.no_watch))
    except OSError as exc:
        print(f"morpheus-proxy: {exc}", file=sys.stderr)
        sys.exit(1)
