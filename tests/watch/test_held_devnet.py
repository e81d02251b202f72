"""A price change the churn guard holds is a `held` run, not "no changes": the run line says what is held, why,
and from when it may go; the watcher's status says so, and its mode stays the watcher's after an invalid run."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from reconciler.devnet import local as devnet
from tests.support.apply_helpers import DevnetCase, example_in
from tests.support.ports import free_port
from tests.support.watch_helpers import watch_process

pytestmark = pytest.mark.devnet


def test_a_held_price_change_is_a_held_run(tmp_path: Path) -> None:
    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = devnet.up(d, free_port())
    try:
        case = DevnetCase(info=info, dir=d, work=work, yaml=example_in(work), state=tmp_path / "state")
        case.edit("minRepostIntervalSeconds: 0", "minRepostIntervalSeconds: 3600")
        port = free_port()
        args = [str(case.yaml), "--auto-apply", "--interval", "1", "--poll", "0.5", "--state-dir", str(case.state)]
        args += ["--http-listen", f"127.0.0.1:{port}"]
        with watch_process(args, case.env(), work) as w:
            w.wait_run(lambda r: r["result"] == "converged")
            m = w.mark()
            case.edit('pricePerSecond: "0.006 MOR"', 'pricePerSecond: "0.007 MOR"')
            r = w.wait_run(lambda r: "file" in r["trigger"], m)
            assert r["result"] == "held", r
            assert not any("match the desired state" in n for n in r.get("notes", []))
            (held,) = r["held"]
            assert held["action"].startswith("bid.post:") and "churn guard" in held["reason"]
            assert isinstance(held["until"], int)  # the bid's post time plus the repost interval (unix time)
            assert "0.006 MOR/s" in held["reason"] and "0.007 MOR/s" in held["reason"]

            success = _last_success(port)  # the converged run's: a held run is no success
            assert success > 0
            m = w.mark()
            case.edit("provider:", "provider: [")  # a bad edit: the run is invalid, the watcher still applies
            w.wait_run(lambda r: r["result"] == "invalid-desired-state", m)
            status = httpx.get(f"http://127.0.0.1:{port}/api/status").json()
            assert status["watcher"]["mode"] == "apply", status["watcher"]
            w.wait_run(lambda r: "timer" in r["trigger"] and bool(r.get("desiredInvalid")), m)  # on the last good
            assert _last_success(port) == success  # neither the invalid run nor one on the last good state moved it
            assert w.terminate() == 0
    finally:
        devnet.down(d)


def _last_success(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    (line,) = [x for x in text.splitlines() if x.startswith("reconcile_watch_last_success_timestamp_seconds ")]
    return float(line.split()[1])
