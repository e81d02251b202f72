"""A command run on a pseudo-terminal, as a person at a keyboard runs it: prompts that only a terminal may answer
(a keystore's password, a confirmation) are typed here, never piped."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def at_a_terminal(args: list[str], env: dict[str, str], answers: list[tuple[bytes, bytes]]) -> tuple[int, str]:
    """`reconcile ARGS` on a pseudo-terminal, typing each answer once its prompt shows; (exit code, all it showed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    os.close(slave)
    seen, pending = b"", list(answers)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if select.select([master], [], [], 0.5)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if pending and pending[0][0] in seen.split(b"\n")[-1]:
                os.write(master, pending.pop(0)[1])
        elif proc.poll() is not None:
            break
    code = proc.wait(timeout=10)
    os.close(master)
    return code, seen.decode(errors="replace")
