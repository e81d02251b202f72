"""Start, find and stop a local anvil EVM node (the devnet and the tests both use it)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from reconciler import EndpointUnusable
from reconciler.chain.artifacts import REPO_ROOT
from reconciler.host.processes import pid_alive, stop_pid

INSTALL_HINT = "run `make setup` (installs the pinned npm package @foundry-rs/anvil-linux-amd64 into tools/)"


class AnvilError(EndpointUnusable):
    """anvil is missing, could not start, or did not answer."""


def find_anvil() -> str:
    """The anvil binary: on PATH, else the project's pinned copy under tools/node_modules."""
    exe = shutil.which("anvil")
    if exe:
        return exe
    local = REPO_ROOT / "tools" / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    raise AnvilError(f"anvil is not installed: {INSTALL_HINT}")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def rpc_answers(url: str, timeout: float = 1.0) -> int | None:
    """The node's chain id if url answers eth_chainId, else None."""
    try:
        r = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=timeout)
        return int(r.json()["result"], 16)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def is_anvil(pid: int) -> bool:
    """Whether pid is an anvil process: a pid file outlives a reboot, and its pid may be another program's now.
    Where /proc is not there to tell (macOS), a live pid is taken for anvil, as before."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return pid_alive(pid) and not Path("/proc/self").exists()
    except OSError:
        return False
    argv = [Path(a.decode(errors="replace")).name for a in cmdline.split(b"\0")[:2]]  # anvil, or node .../anvil
    return any(a.startswith("anvil") for a in argv)


@dataclass
class Anvil:
    """One anvil process on 127.0.0.1. Use as a context manager in tests; `detach=True` for the devnet."""

    port: int = 0
    host: str = "127.0.0.1"
    state_path: Path | None = None
    block_time: float | None = None
    log_path: Path | None = None
    detach: bool = False
    start_block: int = 0  # the genesis block's number: a chain that already stands at a real chain's height
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def rpc_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> Anvil:
        if not self.port:
            self.port = free_port(self.host)
        elif port_in_use(self.host, self.port):
            raise AnvilError(f"port {self.port} on {self.host} is already in use; choose another with --port")
        args = [find_anvil(), "--host", self.host, "--port", str(self.port), "--chain-id", "31337"]
        if self.state_path is not None:
            args += ["--state", str(self.state_path), "--state-interval", "1"]
        if self.start_block:
            args += ["--number", str(self.start_block)]
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        args += self.extra_args
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=self.detach,
            )
        finally:
            if self.log_path:
                log.close()  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                where = f"; see {self.log_path}" if self.log_path else ""
                raise AnvilError(f"anvil exited with code {self.process.returncode} at start{where}")
            if rpc_answers(self.rpc_url, timeout=0.5) is not None:
                return self
            time.sleep(0.05)
        self.stop()
        raise AnvilError(f"anvil did not answer on {self.rpc_url} within {timeout:.0f}s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        stop_pid(self.process.pid, timeout)
        self.process.wait(timeout=1)

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
