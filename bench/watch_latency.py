"""Benchmark: edit-to-served latency of `reconcile watch --auto-apply` for a proxy-only change.

Starts a throwaway devnet, the real forwarder (morpheus-proxy) and the real watcher (child processes), lets the
watcher converge the devnet example, then edits one model's concurrentSlots in the YAML N times (4 <-> 2) and
measures, for each edit, the time from the file write until the forwarder's admin API serves the new value.
No chain transaction is involved (the edit changes only the forwarder's file). Prints p50/p95/max.

    .venv/bin/python bench/watch_latency.py [--edits 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reconciler.devnet import local as devnet  # noqa: E402
from reconciler.devnet.anvil import free_port  # noqa: E402

ADMIN = "bench-admin-token"
EMB = "concurrentSlots: {n}\n    bid:\n      costModel"


def served_slots(admin: int) -> int | None:
    r = httpx.get(f"http://127.0.0.1:{admin}/admin/config", headers={"Authorization": f"Bearer {ADMIN}"}, timeout=2)
    for m in r.json().get("models", []):
        if m.get("modelName") == "text-embedding-3-small":
            return int(m.get("concurrentSlots", 0))
    return None


def wait_slots(admin: int, want: int, timeout: float = 30.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served_slots(admin) == want:
            return time.monotonic()
        time.sleep(0.005)
    raise SystemExit(f"the forwarder never served concurrentSlots={want}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--edits", type=int, default=20)
    args = ap.parse_args()
    from tests.support.apply_helpers import example_in
    from tests.support.watch_helpers import forwarder_process

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        d, work = base / "devnet", base / "work"
        work.mkdir()
        info, _ = devnet.up(d, free_port())
        watcher = None
        try:
            config = work / "forwarder-models.json"
            config.write_text('{"models": []}\n')
            with forwarder_process(config, ADMIN) as (_port, admin):
                yaml = example_in(work)
                yaml.write_text(
                    yaml.read_text().replace(
                        "proxy:\n", f"proxy:\n  adminUrl: http://127.0.0.1:{admin}\n  adminToken: env:FWD_ADMIN\n"
                    )
                )
                env = {
                    **os.environ,
                    "RECONCILE_DEVNET_DIR": str(d),
                    "DEMO_UPSTREAM_KEY": "bench-upstream-key",
                    "DEVNET_PROVIDER_KEY": str(info["accounts"][1]["privateKey"]),
                    "FWD_ADMIN": ADMIN,
                }
                cmd = [sys.executable, "-m", "reconciler.cli", "watch", str(yaml), "--auto-apply"]
                cmd += ["--poll", "0.5", "--state-dir", str(base / "state")]
                watcher = subprocess.Popen(cmd, env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                wait_slots(admin, 4, timeout=60)
                time.sleep(1.5)  # let the follow-up runs after the first apply (its own events) settle
                lat: list[float] = []
                slots = 4
                for _ in range(args.edits):
                    new = 2 if slots == 4 else 4
                    text = yaml.read_text().replace(EMB.format(n=slots), EMB.format(n=new))
                    t0 = time.monotonic()
                    yaml.write_text(text)
                    lat.append((wait_slots(admin, new) - t0) * 1000)
                    slots = new
                    time.sleep(0.3)  # an operator's edits are apart; also lets the follow-up run finish
                watcher.terminate()
                out, _ = watcher.communicate(timeout=30)
                runs = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
                durations = [r["durationMs"] for r in runs if r.get("actions") and r.get("txs") == 0]
        finally:
            if watcher is not None and watcher.poll() is None:
                watcher.kill()
            devnet.down(d)
    lat.sort()
    p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))]
    print(f"watch edit-to-served latency, proxy-only change, {len(lat)} edits:")
    print(f"  p50 {statistics.median(lat):.0f} ms   p95 {p95:.0f} ms   max {lat[-1]:.0f} ms   min {lat[0]:.0f} ms")
    if durations:
        print(
            f"  watcher run (load + observe + write + reload + re-plan): median {statistics.median(durations):.0f} ms"
        )


if __name__ == "__main__":
    main()
