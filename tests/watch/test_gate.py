"""The watcher's pure decisions: when it may apply, the rolling-day budget, another writer, low funds, and which
files (secrets by `file:` reference) it must watch."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.desired.loader import load_desired
from reconciler.watch.gate import Gate, budget_refusal, file_references, files_fingerprint, foreign_nonce, low_funds
from tests.support.apply_helpers import EXAMPLE

MOR = 10**18


def test_every_reason_to_only_report_is_named() -> None:
    assert Gate(auto_apply=True).mode == "apply" and Gate(auto_apply=True).reasons() == []
    assert Gate(auto_apply=False).mode == "alert-only"
    g = Gate(auto_apply=True, policy_suspend=True, switch_suspend=True, writer_conflict=True, backing_off=True)
    assert g.mode == "alert-only" and g.suspended
    text = " ".join(g.reasons())
    assert "policy.suspend" in text and "--suspend" in text and "another writer" in text and "backing off" in text
    stopped = Gate(auto_apply=True, backing_off=True, stopped_after_failures=True).reasons()
    assert stopped == ["stopped after repeated failures until the desired state changes"]


def test_daily_budget() -> None:
    assert budget_refusal(3 * MOR // 10, 0, None) is None
    assert budget_refusal(0, 5 * MOR, MOR) is None  # a proxy-only change costs nothing: always allowed
    assert budget_refusal(3 * MOR // 10, 7 * MOR // 10, MOR) is None  # exactly at the limit
    refusal = budget_refusal(3 * MOR // 10, 8 * MOR // 10, MOR)
    assert refusal is not None and "maxSpendPerDay" in refusal and str(2 * MOR // 10) in refusal


def test_foreign_nonce_and_low_funds() -> None:
    assert not foreign_nonce(5, 5) and not foreign_nonce(4, 5) and foreign_nonce(6, 5)
    assert low_funds(10, 10, None, None) == []
    assert low_funds(10, 10, 10, 10) == []
    lows = low_funds(9, 9, 10, 10)
    assert len(lows) == 2 and "minSignerEth" in lows[0] and "minProviderMor" in lows[1]


def test_file_references_are_watched_and_fingerprinted(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "upstream.key"
    key.parent.mkdir()
    key.write_text("k1\n")
    text = EXAMPLE.read_text().replace("apiKey: env:DEMO_UPSTREAM_KEY", "apiKey: file:keys/upstream.key")
    (tmp_path / "d.yaml").write_text(text.replace("../../.demo/", "./"))
    desired, _ = load_desired(tmp_path / "d.yaml")
    assert file_references(desired) == {key}
    before = files_fingerprint({key, tmp_path / "missing"})
    key.write_text("k2\n")
    assert files_fingerprint({key, tmp_path / "missing"}) != before


def test_sigterm_exits_0_and_a_second_ctrl_c_exits_at_once(tmp_path: Path) -> None:
    """Signals on the real command. SIGTERM between runs: exit 0. Ctrl-C twice while a run hangs on an RPC
    node that never answers: the first asks to stop after the run, the second exits at once (130)."""
    import json
    import signal
    import socket
    import time

    from tests.support.watch_helpers import watch_process

    yaml = tmp_path / "desired.yaml"
    yaml.write_text(EXAMPLE.read_text())
    env = {"RECONCILE_DEVNET_DIR": str(tmp_path / "no-devnet"), "DEVNET_PROVIDER_KEY": "", "DEMO_UPSTREAM_KEY": "k"}
    args = [str(yaml), "--auto-apply", "--poll", "0.2", "--state-dir", str(tmp_path / "state")]
    with watch_process(args, env, tmp_path) as w:
        r = w.wait_run(lambda r: "start" in r["trigger"])
        assert r["result"] == "failed" and "devnet" in r["error"]
        assert w.terminate() == 0

    with socket.socket() as silent:  # accepts connections (kernel backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        (tmp_path / "no-devnet").mkdir()
        info = {"chainId": 31337, "diamond": "0x" + "11" * 20, "mor": "0x" + "22" * 20}
        info["rpcUrl"] = f"http://127.0.0.1:{silent.getsockname()[1]}"
        (tmp_path / "no-devnet" / "devnet.json").write_text(json.dumps(info))
        with watch_process(args, env, tmp_path) as w:

            def said(text: str) -> None:
                for _ in range(1800):  # 90 s: under load a signal may wait for the RPC read's 30 s timeout
                    if any(text in line for line in w.stderr):
                        return
                    time.sleep(0.05)
                raise AssertionError("".join(w.stderr))

            said("watching")
            silent.settimeout(60)
            hung, _ = silent.accept()  # the first run now waits on the silent node (held open, never answered)
            w.proc.send_signal(signal.SIGINT)
            said("SIGINT: finishing")
            w.proc.send_signal(signal.SIGINT)
            assert w.proc.wait(30) == 130
            assert w.runs == []  # it did not wait for the hung run to end
            hung.close()


@pytest.mark.parametrize("args", [["--suspend"], ["--resume"], [str(EXAMPLE)]])
def test_a_state_dir_that_is_a_file_is_one_line(tmp_path: Path, args: list[str]) -> None:
    state = tmp_path / "state"
    state.write_text("not a folder")
    result = CliRunner().invoke(cli, ["watch", *args, "--state-dir", str(state)])
    assert result.exit_code == 1 and (result.exception is None or isinstance(result.exception, SystemExit))
    assert result.stderr.splitlines() == [f"error: --state-dir {state} cannot be used: File exists"]
