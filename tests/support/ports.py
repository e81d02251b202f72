"""Free loopback ports for the tests, safe under pytest-xdist.

A free port is only free until something binds it: two workers asking the kernel at the same moment can be given
the same one, and both start a node on it (the second node fails to bind, and its caller may take the first
worker's node for its own). So the kernel still picks (the port is free when handed out), but each worker keeps
only the ports of its own share of the range and never hands one out twice.
"""

from __future__ import annotations

import os
import socket

_handed_out: set[int] = set()


def _share() -> tuple[int, int]:
    """(this worker's index, how many workers): gw0..gwN-1 under xdist, (0, 1) in a serial run."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return (int(worker.removeprefix("gw")), count) if worker.startswith("gw") else (0, 1)


def free_port(host: str = "127.0.0.1") -> int:
    index, count = _share()
    for _ in range(100 * count):
        with socket.socket() as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        # The kernel gives bind() ports of one parity, so the share is taken on port // 2, not on the port.
        if (port // 2) % count == index and port not in _handed_out:
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port in worker {index}'s share after {100 * count} tries")
