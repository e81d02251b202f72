"""Benchmark: what a stranger's hostile models cost one `reconcile plan` (issue 26: at most ~10 s and 200 MB more).

Starts a throwaway devnet, applies the example provider, then times `reconcile plan --format json` in a child
process (wall time, and its peak RSS as GNU time reports it: a child forked from this process would count
this process's own memory) before any stranger came and after a stranger registered a
model with a 100 KB name, one with 10,000 tags and one whose name is not UTF-8: a first plan (no saved model
index: every registry id is read) and a next one (from the index). Then the pure decoder on the same answers.

    .venv/bin/python bench/foreign_data.py [--runs 3]        (needs anvil, `make setup`, and /usr/bin/time)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eth_abi import encode  # noqa: E402

from reconciler.chain import structs  # noqa: E402
from reconciler.devnet import local as devnet  # noqa: E402
from reconciler.devnet.anvil import free_port  # noqa: E402
from tests.support.apply_helpers import DevnetCase, example_in  # noqa: E402
from tests.support.strangers import Stranger, raise_block_gas  # noqa: E402

NAME = b"\xfe" + b"n" * 100_000
TAGS = [b"\xff%d" % i for i in range(10_000)]


def plan_once(case: DevnetCase, state: Path) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one `reconcile plan` in a child process, its model index in `state`."""
    args = ["/usr/bin/time", "-f", "maxrss %M", sys.executable, "-m", "reconciler.cli", "plan", str(case.yaml)]
    state.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    r = subprocess.run([*args, "--format", "json"], cwd=state, env={**os.environ, **case.env()}, capture_output=True)
    seconds = time.monotonic() - t0
    if r.returncode not in (0, 2):
        raise SystemExit(f"plan failed ({r.returncode}): {r.stderr.decode()}")
    kb = int(r.stderr.decode().rsplit("maxrss ", 1)[1].split()[0])
    return seconds, kb / 1024


def measure(case: DevnetCase, root: Path, label: str, runs: int) -> None:
    firsts, nexts = [], []
    for i in range(runs):
        state = root / f"{label}-{i}"
        firsts.append(plan_once(case, state))
        nexts.append(plan_once(case, state))
    for what, rows in (("first plan", firsts), ("next plan", nexts)):
        secs = statistics.median(r[0] for r in rows)
        rss = max(r[1] for r in rows)
        print(f"{label:<22} {what:<11} median {secs:5.2f} s   peak RSS {rss:6.1f} MB   ({runs} runs)")


def decoder_figures() -> None:
    owner = "0x" + "33" * 20
    model = "(bytes32,uint256,uint256,address,bytes,bytes[],uint128,bool)"
    answer = encode([model], [(b"\0" * 32, 0, 0, owner, NAME, TAGS, 1, False)])
    for label, fn in (
        ("decoder: owner only", lambda: structs.model_owner(answer)),
        ("decoder: whole model", lambda: structs.model("0x" + "ab" * 32, answer)),
    ):
        t0 = time.perf_counter()
        for _ in range(20):
            fn()
        ms = (time.perf_counter() - t0) / 20 * 1000
        print(f"{label:<22} one {len(answer) // 1024} KB answer (100 KB name, 10,000 tags): {ms:8.3f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    runs = ap.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        d, work = root / "devnet", root / "work"
        work.mkdir()
        info, _ = devnet.up(d, free_port())
        try:
            case = DevnetCase(info=info, dir=d, work=work, yaml=example_in(work), state=root / "state")
            raise_block_gas(case)
            r = case.reconcile("apply", str(case.yaml), "--auto-approve", "--state-dir", str(case.state))
            if r.returncode != 0:
                raise SystemExit(r.stdout + r.stderr)
            measure(case, root, "no stranger", runs)
            stranger = Stranger(case)
            stranger.model("huge-name", NAME)
            stranger.model("many-tags", b"tags", TAGS)
            stranger.model("bad-utf8", b"bad\xff\xfename")
            measure(case, root, "three hostile models", runs)
        finally:
            devnet.down(d)
    decoder_figures()


if __name__ == "__main__":
    main()
