"""Helpers for watch tests: the real `reconcile watch` as a child process (its JSON run lines read as they
come), a loopback webhook receiver, the real forwarder process, and chain writes made behind the watcher's back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.devnet import unlocked
from tests.support.ports import free_port

MORPHEUS_PROXY = str(Path(sys.executable).with_name("morpheus-proxy"))
Run = dict[str, Any]


class WatchProcess:
    """`python -m reconciler.cli watch ...` in a child process; stdout lines are JSON run records."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler.cli", "watch", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **env},
            cwd=cwd,
        )
        self.runs: list[Run] = []
        self.stderr: list[str] = []
        self._cond = threading.Condition()
        self._last = time.monotonic()
        threading.Thread(target=self._read_out, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.runs.append(json.loads(line))
                self._last = time.monotonic()
                self._cond.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def mark(self, quiet: float = 0.8, timeout: float = 60) -> int:
        """Wait until the watcher has settled, then return the index of the next run: steps of a test then do not
        race each other. A run rebases the poller on what it saw before it applied, so a run whose writes moved
        what the poller reads is always followed by one more run: wait for that run's record, not for a quiet
        spell (under load the follow-up may start later than any spell). Then wait until the watcher has been
        quiet for `quiet` s (a trigger that came in a later poll)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self.runs and _followed(self.runs[-1]):
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(
                        "no run followed the watcher's own writes; last run:\n"
                        + json.dumps(self.runs[-1])
                        + "\nstderr:\n"
                        + "".join(self.stderr[-40:])
                    )
                self._cond.wait(min(left, 0.2))
        while True:
            with self._cond:
                left = quiet - (time.monotonic() - self._last)
                if left <= 0:
                    return len(self.runs)
            time.sleep(left)

    def wait_run(self, pred: Callable[[Run], bool], since: int = 0, timeout: float = 30) -> Run:
        """The first run record after index `since` that satisfies pred (fails with the log on timeout)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self.runs[since:]:
                    if pred(r):
                        return r
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(
                        "no matching run; runs:\n"
                        + "\n".join(json.dumps(r) for r in self.runs[since:])
                        + "\nstderr:\n"
                        + "".join(self.stderr[-40:])
                    )
                self._cond.wait(min(left, 0.2))

    def terminate(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _followed(run: Run) -> bool:
    """Whether another run must follow this one: it converged by sending transactions (the signer's nonce
    moved) or by reloading the forwarder (the served version moved), and the poller compares with what the run
    saw before it applied."""
    if run.get("result") != "converged":
        return False
    return run.get("txs", 0) > 0 or any(a.startswith("proxy.reload") for a in run.get("actions") or [])


@contextmanager
def watch_process(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[WatchProcess]:
    w = WatchProcess(args, env, cwd)
    try:
        yield w
    finally:
        w.close()


class Hooks:
    """A loopback webhook receiver: every JSON body posted to it, in order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        hooks = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                hooks.events.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook?token=s3cret-hook"

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if e["event"] == event]


@contextmanager
def webhook_receiver() -> Iterator[Hooks]:
    h = Hooks()
    h.thread.start()
    try:
        yield h
    finally:
        h.server.shutdown()
        h.server.server_close()


@contextmanager
def forwarder_on(config: Path, admin_token: str, port: int, admin: int) -> Iterator[subprocess.Popen[str]]:
    """The real morpheus-proxy on given loopback ports (a test that stops it and starts it again keeps them):
    yields its process, stopped with SIGTERM at the end if it still runs."""
    proc = subprocess.Popen(
        [
            MORPHEUS_PROXY,
            "--config",
            str(config),
            "--listen",
            f"127.0.0.1:{port}",
            "--admin-listen",
            f"127.0.0.1:{admin}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "MORPHEUS_PROXY_ADMIN_TOKEN": admin_token},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "listening" in line, line
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def forwarder_process(config: Path, admin_token: str) -> Iterator[tuple[int, int]]:
    """The real morpheus-proxy on free loopback ports: yields (port, admin_port)."""
    port, admin = free_port(), free_port()
    with forwarder_on(config, admin_token, port, admin):
        yield port, admin


def grant_delegate(w3: Web3, info: dict[str, Any], provider: str, delegate: str) -> None:
    """The provider lets `delegate` act for it (provider, model, marketplace rights) and pays: MOR allowance."""
    registry = w3.eth.contract(address=info["delegateRegistry"], abi=load_artifact("DelegateRegistry").abi)
    for right in ("provider", "model", "marketplace"):
        rights = Web3.keccak(text=f"delegation.rules.{right}")
        unlocked.send(w3, registry.functions.delegateContract(delegate, info["diamond"], rights, True), provider)
    mor = w3.eth.contract(address=info["mor"], abi=load_artifact("MorToken").abi)
    unlocked.send(w3, mor.functions.approve(info["diamond"], 100 * 10**18), provider)


def active_bids(w3: Web3, info: dict[str, Any], provider: str) -> dict[str, tuple[bytes, int]]:
    """model id hex -> (bid id, price) of the provider's active bids."""
    market = w3.eth.contract(address=info["diamond"], abi=load_artifact("Marketplace").abi)
    ids, _total = market.functions.getProviderActiveBids(Web3.to_checksum_address(provider), 0, 100).call()
    out = {}
    for bid_id in ids:
        _p, mid, price, _n, _c, _d = market.functions.getBid(bid_id).call()
        out["0x" + bytes(mid).hex()] = (bytes(bid_id), int(price))
    return out


def delete_bid(w3: Web3, info: dict[str, Any], bid_id: bytes, sender: str) -> None:
    market = w3.eth.contract(address=info["diamond"], abi=load_artifact("Marketplace").abi)
    unlocked.send(w3, market.functions.deleteModelBid(bid_id), sender)
