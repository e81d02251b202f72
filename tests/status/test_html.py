"""`reconcile status --format html`: the watcher's page as one self-contained file (no script, no external
reference), with the watcher's runs and day figures read from its --state-dir, and no secret."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from reconciler.devnet import local as devnet
from reconciler.status import daily
from reconciler.status.board import RUNS_FILE
from tests.support.apply_helpers import DevnetCase, example_in
from tests.support.ports import free_port

pytestmark = pytest.mark.devnet


def test_status_html_is_one_self_contained_file(tmp_path: Path) -> None:
    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = devnet.up(d, free_port())
    try:
        case = DevnetCase(info=info, dir=d, work=work, yaml=example_in(work), state=tmp_path / "state")
        r = case.reconcile("apply", str(case.yaml), "--auto-approve", "--state-dir", str(case.state))
        assert r.returncode == 0, r.stderr
        pdir = case.state / f"{info['chainId']}-{case.provider.lower()}"
        daily.seed(pdir / daily.FILE, [(daily.day_of(time.time() - 2 * 86400), 5 * 10**17, 10**17)])
        run = {"event": "run", "ts": time.time(), "trigger": ["start"], "result": "converged", "txs": 1}
        run |= {"txHashes": ["0x" + "ab" * 32], "morSpentWei": "300000000000000000", "actions": ["bid.post:0x1"]}
        (case.state / RUNS_FILE).write_text(json.dumps(run) + "\n")
        r = case.reconcile("status", str(case.yaml), "--format", "html", "--state-dir", str(case.state))
        assert r.returncode == 0, r.stderr
        page = r.stdout
    finally:
        devnet.down(d)
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    assert "<script" not in page and not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert page.count('class="row"') == 3 and 'data-state="in sync"' in page
    assert page.count('<g class="point"') == 1  # the seeded day (a hand apply's spend is no watcher figure)
    assert "converged" in page and "0xabababab" in page and "etherscan" not in page  # no explorer on the devnet
    for secret in (case.key(1)[2:], "demo-upstream-key"):
        assert secret not in page
