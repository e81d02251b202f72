"""Processes on this machine, by pid: alive, when started, stopped. Here, not in apply/ or devnet/, because the
apply lock (is a lock's holder still running?) and the devnet (stop its anvil) both need them, and neither
should import the other."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def process_start(pid: int) -> float | None:
    """When pid's process started (Unix time, to about a second), from /proc; None where that cannot be told."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line[:6] == "btime "
        )
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime, counted after the (comm) field
    except (OSError, StopIteration, IndexError, ValueError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def stop_pid(pid: int, timeout: float = 10.0) -> bool:
    """SIGTERM (a process may save its state on it, as anvil does), then SIGKILL after timeout. True when it was
    running."""
    if not pid_alive(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = 0
        if done == pid or not pid_alive(pid):
            return True
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    return True
