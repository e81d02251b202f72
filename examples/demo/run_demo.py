"""`make demo`: the resale provider's whole job on a local devnet, in about a minute, leaving nothing running.

devnet up -> demo upstream -> forwarder -> `reconcile apply` of the devnet example -> a streamed chat completion
through the forwarder with the official openai client -> what the chain now holds -> a price change planned in a
scratch copy (with its fee) -> everything stopped. Scratch files live in .demo/ (git-ignored, wiped each run).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from openai import OpenAI

from reconciler.desired.loader import load_desired
from reconciler.devnet import local as devnet
from reconciler.devnet.anvil import free_port
from reconciler.market.units import format_mor
from reconciler.pipeline import plan_for

ROOT = Path(__file__).resolve().parents[2]
SCRATCH = ROOT / ".demo"
BIN = Path(sys.executable).parent


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m" if sys.stdout.isatty() else f"\n== {title}", flush=True)


def run(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    print("$ " + " ".join(a if " " not in a else repr(a) for a in args), flush=True)
    proc = subprocess.run(args, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    out = proc.stdout.rstrip()
    if out:
        print(out, flush=True)
    if check and proc.returncode != 0:
        raise SystemExit(f"demo failed: `{args[0]} {args[1]}` exited {proc.returncode}")
    return proc


@contextlib.contextmanager
def background(name: str, args: list[str], env: dict[str, str], ready: str) -> Iterator[subprocess.Popen[str]]:
    log = open(SCRATCH / f"{name}.log", "w")  # closed in finally
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if ready not in line:
            raise SystemExit(f"demo failed: {name} did not start (see {SCRATCH / (name + '.log')})")
        print(f"{name}: {line.strip()}", flush=True)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def scratch_desired(upstream_port: int, admin_port: int) -> Path:
    text = (ROOT / "examples" / "desired-state" / "devnet.yaml").read_text()
    text = text.replace("baseUrl: http://127.0.0.1:8099/v1", f"baseUrl: http://127.0.0.1:{upstream_port}/v1")
    text = text.replace(
        "  modelsConfigPath: ../../.demo/forwarder-models.json",
        f"  modelsConfigPath: {SCRATCH / 'forwarder-models.json'}\n"
        f"  adminUrl: http://127.0.0.1:{admin_port}\n"
        "  adminToken: env:MORPHEUS_PROXY_ADMIN_TOKEN",
    )
    path = SCRATCH / "desired.yaml"
    path.write_text(text)
    return path


def shown(wei: int) -> str:
    """MOR for a table: at most 6 decimals, marked ~ when that cut digits (the chain holds the exact wei)."""
    short = format_mor(wei, max_decimals=6)
    return short if format_mor(wei) == short else "~" + short


def chain_table(path: Path, env: dict[str, str]) -> None:
    observed, _plan = plan_for(load_desired(path)[0], env)
    chain = observed.chain
    p = chain.provider
    assert p is not None
    print(f"provider  {p.address}  endpoint {p.endpoint}  stake {format_mor(p.stake)}")
    print(f"{'model':<18} {'model id':<14} {'stake':>9} {'tags':<10} {'bid price':>16} {'per hour':>14}")
    for m in chain.models:
        bids = chain.active_bids(m.model_id)
        price = bids[0].price_per_second if bids else 0
        print(
            f"{m.name:<18} {m.model_id[:12]}… {format_mor(m.stake):>9} {','.join(m.tags):<10} "
            f"{shown(price) + '/s':>16} {shown(price * 3600):>14}"
        )


def main() -> int:
    started = time.monotonic()
    shutil.rmtree(SCRATCH, ignore_errors=True)
    SCRATCH.mkdir()
    net_dir = SCRATCH / "devnet"
    upstream_key = "demo-" + secrets.token_hex(8)
    admin_token = secrets.token_hex(16)
    try:
        step("1. a local devnet: anvil + our Morpheus-compatible contracts")
        info, notes = devnet.up(net_dir, port=free_port())
        for n in notes:
            print(n)
        print(f"Diamond {info['diamond']}  MOR {info['mor']}  provider {info['provider']}")
        env = {
            **os.environ,
            "RECONCILE_DEVNET_DIR": str(net_dir),
            "DEVNET_PROVIDER_KEY": info["accounts"][1]["privateKey"],
            "DEMO_UPSTREAM_KEY": upstream_key,
            "MORPHEUS_PROXY_ADMIN_TOKEN": admin_token,
            "NO_COLOR": "1",
            "PYTHONUNBUFFERED": "1",  # progress (stderr) and results (stdout) print in the order they happen
        }
        upstream_port, port, admin_port = free_port(), free_port(), free_port()
        desired = scratch_desired(upstream_port, admin_port)
        (SCRATCH / "forwarder-models.json").write_text('{"models": []}\n')

        forwarder_cmd = [str(BIN / "morpheus-proxy"), "--config", str(SCRATCH / "forwarder-models.json")]
        forwarder_cmd += ["--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin_port}"]

        step("2. the demo upstream (DEMO ONLY, stands in for Venice/OpenAI) and the forwarder")
        with (
            background(
                "demo-upstream",
                [str(BIN / "python"), "examples/demo/demo_upstream.py", "--port", str(upstream_port)],
                env,
                "listening",
            ),
            background(
                "morpheus-proxy",
                forwarder_cmd,
                env,
                "listening",
            ),
        ):
            step("3. reconcile apply: provider, models, bids on chain; models-config written and reloaded")
            run(str(BIN / "reconcile"), "validate", str(desired), env=env)
            run(
                str(BIN / "reconcile"), "apply", str(desired), "--yes",
                "--state-dir", str(SCRATCH / "state"), env=env,
            )  # fmt: skip

            step("4. a streamed chat completion through the forwarder (official openai client)")
            client = OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused-on-loopback")
            stream = client.chat.completions.create(
                model="llama-3.3-70b",
                messages=[{"role": "user", "content": "Who answers me?"}],
                stream=True,
            )
            print("answer: ", end="", flush=True)
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    print(chunk.choices[0].delta.content, end="", flush=True)
            print()
            served = httpx.get(
                f"http://127.0.0.1:{admin_port}/admin/config", headers={"Authorization": f"Bearer {admin_token}"}
            ).json()
            print(
                f"the forwarder serves models-config version {served['version'][:12]}… "
                f"({len(served['models'])} models, keys shown only as fingerprints)"
            )

            step("5. what the chain holds now")
            chain_table(desired, env)

            step(
                "6. change a price in the scratch copy and plan it (every repost pays the bid fee, kept by the marketplace)"
            )
            desired.write_text(
                desired.read_text().replace('pricePerSecond: "0.006 MOR"', 'pricePerSecond: "0.0065 MOR"')
            )
            print(f"edited {desired}: demo-chat pricePerSecond 0.006 MOR -> 0.0065 MOR")
            run(str(BIN / "reconcile"), "plan", str(desired), "--detailed-exitcode", env=env, check=False)
    finally:
        step("7. stopping everything")
        print("devnet stopped" if devnet.down(net_dir) else "devnet was not running")
    print(f"\ndemo finished in {time.monotonic() - started:.0f}s; nothing is left running.")
    print(
        "\nTry next:\n"
        "  .venv/bin/reconcile devnet up                 # a devnet that stays up (state in .devnet/)\n"
        "  cat examples/desired-state/devnet.yaml        # the desired state the demo applied\n"
        "  .venv/bin/reconcile plan examples/desired-state/devnet.yaml --format markdown   # a PR comment\n"
        "  docs/desired-state.md, docs/forwarder.md, README's quickstart for Base Sepolia"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
