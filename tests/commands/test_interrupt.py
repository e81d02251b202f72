"""Ctrl-C in a command: one line saying how to go on, never click's bare "Aborted!" or a traceback."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.apply_helpers import EXAMPLE

ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_while_the_rpc_node_is_silent_says_how_to_go_on(tmp_path: Path) -> None:
    with socket.socket() as node:  # accepts, never answers: the command waits on it until interrupted
        node.bind(("127.0.0.1", 0))
        node.listen()
        node.settimeout(120)
        info = {"rpcUrl": f"http://127.0.0.1:{node.getsockname()[1]}", "chainId": 31337}
        (tmp_path / "devnet.json").write_text(
            json.dumps({**info, "diamond": "0x" + "11" * 20, "mor": "0x" + "22" * 20})
        )
        env = {**os.environ, "RECONCILE_DEVNET_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "reconciler", "plan", str(EXAMPLE)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # a shell's background job (CI started with `&`) ignores SIGINT, and Python keeps an ignored SIGINT
            # ignored: give the command the default disposition a terminal's Ctrl-C meets
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            conn, _ = node.accept()  # the command is inside its first RPC call now
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=120)
            conn.close()
        finally:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1
    assert "Traceback" not in err and "Aborted!" not in err
    assert err.splitlines()[-1].startswith("error: interrupted; ") and "run the same command again" in err
