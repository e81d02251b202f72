"""Benchmark: wall time of `reconcile` commands that need no chain, from process start to exit.

Runs each command as a fresh process (the installed console script), several times, and prints the median,
min and max. What is measured is mostly import time: commands that read the chain import web3 only when
they run, so `--help` and `validate` should answer in well under half a second.

    .venv/bin/python bench/cli_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECONCILE = str(Path(sys.executable).parent / "reconcile")
COMMANDS = [
    ["--help"],
    ["validate", "examples/desired-state/devnet.yaml"],
    ["validate", "examples/desired-state/openai-anthropic.yaml"],
    ["plan", "--help"],
    ["watch", "--help"],
    ["devnet", "status", "--dir", "/nonexistent-devnet"],
]


def wall_ms(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([RECONCILE, *args], cwd=ROOT, capture_output=True, check=False)
    return (time.perf_counter() - start) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    print(f"{'command':<64} {'median ms':>10} {'min ms':>8} {'max ms':>8}")
    for args in COMMANDS:
        wall_ms(args)  # warm the file cache and the bytecode cache once
        times = [wall_ms(args) for _ in range(runs)]
        label = "reconcile " + " ".join(args)
        print(f"{label:<64} {statistics.median(times):>10.0f} {min(times):>8.0f} {max(times):>8.0f}")


if __name__ == "__main__":
    main()
