"""Shared setup for apply/watch tests on a real devnet: a devnet per test, the example desired state in a
temp folder, and readers for what the chain says (events, balances)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from tests.support.fwd_helpers import ADMIN_TOKEN
from tests.support.money import measure_apply

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "desired-state" / "devnet.yaml"
MOR = 10**18


@dataclass
class DevnetCase:
    info: dict[str, Any]
    dir: Path
    work: Path
    yaml: Path
    state: Path

    @property
    def w3(self) -> Web3:
        return Web3(Web3.HTTPProvider(self.info["rpcUrl"]))

    @property
    def provider(self) -> str:
        return str(self.info["provider"])

    @property
    def forwarder_config(self) -> Path:
        """The forwarder's models-config file the example desired state names (`example_in`)."""
        return self.work / "forwarder-models.json"

    def key(self, index: int) -> str:
        return str(self.info["accounts"][index]["privateKey"])

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "RECONCILE_DEVNET_DIR": str(self.dir),
            "DEMO_UPSTREAM_KEY": "demo-upstream-key",
            "DEVNET_PROVIDER_KEY": self.key(1),
            **extra,
        }

    def market(self) -> Any:
        return self.w3.eth.contract(address=self.info["diamond"], abi=load_artifact("Marketplace").abi)

    def mor(self) -> Any:
        return self.w3.eth.contract(address=self.info["mor"], abi=load_artifact("MorToken").abi)

    def mor_balance(self, who: str | None = None) -> int:
        return int(self.mor().functions.balanceOf(who or self.provider).call())

    def apply_in_process(self, desired: Any, environ: dict[str, str], opts: Any) -> Any:
        """`apply_desired` in this process, measured for the money invariant like `reconcile("apply", ...)`."""
        from reconciler.apply.run import apply_desired

        args = ("apply", str(self.yaml), "--state-dir", str(opts.state_dir))
        return measure_apply(self.info, self.work, args, lambda: apply_desired(desired, environ, opts))

    def bid_posts(self) -> list[Any]:
        return list(self.market().events.MarketplaceBidPosted().get_logs(from_block=0))

    def edit(self, old: str, new: str) -> None:
        text = self.yaml.read_text()
        assert old in text, old
        self.yaml.write_text(text.replace(old, new))

    def reconcile(
        self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the real `reconcile` command in a child process (so it can be killed like a real one). An `apply`
        is measured for the money invariant (tests/support/money.py), checked after the test."""
        env = {**os.environ, **self.env(**(extra_env or {}))}

        def run() -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "reconciler.cli", *args],
                capture_output=True,
                text=True,
                env=env,
                timeout=timeout,
                cwd=self.work,
            )

        if args and args[0] == "apply":
            return measure_apply(self.info, self.work, args, run)  # type: ignore[no-any-return]
        return run()

    def apply(self, *extra: str, extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """`reconcile apply` of the case's desired state and state folder, confirmed (`--yes`), with `extra`
        options."""
        return self.reconcile(
            "apply", str(self.yaml), "--yes", "--state-dir", str(self.state), *extra, extra_env=extra_env
        )


def example_in(work: Path) -> Path:
    """The devnet example, with its forwarder file in `work` instead of the repo's scratch folder."""
    text = EXAMPLE.read_text().replace(
        "modelsConfigPath: ../../.demo/forwarder-models.json", f"modelsConfigPath: {work / 'forwarder-models.json'}"
    )
    path = work / "desired.yaml"
    path.write_text(text)
    return path


@contextlib.contextmanager
def example_devnet(tmp_path: Path) -> Iterator[DevnetCase]:
    """A devnet of its own with the example desired state in `tmp_path/work` and an empty forwarder file; the
    devnet is stopped however the test ends."""
    from reconciler.devnet import local as devnet
    from tests.support.ports import free_port

    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = devnet.up(d, free_port())
    try:
        case = DevnetCase(info=info, dir=d, work=work, yaml=example_in(work), state=tmp_path / "state")
        case.forwarder_config.write_text('{"models": []}\n')
        yield case
    finally:
        devnet.down(d)


@dataclass
class ServedCase:
    """A devnet case whose desired state points at a loopback stub upstream and a running forwarder process."""

    case: DevnetCase
    env: dict[str, str]
    port: int
    admin: int
    config: Path
    upstream: Any = None  # the loopback stub upstream (tests.support.fwd_stubs.Upstream): its knobs

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def reconcile(self, *args: str) -> tuple[int, str]:
        r = await asyncio.to_thread(self.case.reconcile, *args, extra_env=self.env)
        return r.returncode, r.stdout + r.stderr

    async def apply(self) -> tuple[int, str]:
        return await self.reconcile("apply", str(self.case.yaml), "--auto-approve", "--state-dir", str(self.case.state))


@contextlib.asynccontextmanager
async def forwarder_process(config: Path, port: int, admin: int) -> AsyncIterator[asyncio.subprocess.Process]:
    """The real `morpheus-proxy` on loopback ports, with the test admin token; always stopped."""
    env = {**os.environ, "MORPHEUS_PROXY_ADMIN_TOKEN": ADMIN_TOKEN}
    exe = str(Path(sys.executable).with_name("morpheus-proxy"))
    args = ["--config", str(config), "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}"]
    proc = await asyncio.create_subprocess_exec(
        exe, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 20)
        assert b"listening" in line, line
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@contextlib.asynccontextmanager
async def served_devnet(tmp_path: Path) -> AsyncIterator[ServedCase]:
    """devnet + stub upstream + forwarder (started empty: the reconciler fills its file), all stopped after."""
    from reconciler.devnet import local as devnet
    from tests.support.fwd_stubs import UPSTREAM_KEY, serve_upstream
    from tests.support.ports import free_port

    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = await asyncio.to_thread(devnet.up, d, free_port())
    try:
        async with serve_upstream("openai") as up:
            port, admin = free_port(), free_port()
            yaml = example_in(work)
            text = yaml.read_text().replace("baseUrl: http://127.0.0.1:8099/v1", f"baseUrl: {up.url}/v1")
            text = text.replace(
                "proxy:\n",
                f"proxy:\n  adminUrl: http://127.0.0.1:{admin}\n  adminToken: env:MORPHEUS_PROXY_ADMIN_TOKEN\n",
            )
            yaml.write_text(text)
            config = work / "forwarder-models.json"
            config.write_text('{"models": []}\n')
            case = DevnetCase(info=info, dir=d, work=work, yaml=yaml, state=tmp_path / "state")
            env = {"DEMO_UPSTREAM_KEY": UPSTREAM_KEY, "MORPHEUS_PROXY_ADMIN_TOKEN": ADMIN_TOKEN}
            async with forwarder_process(config, port, admin):
                yield ServedCase(case=case, env=env, port=port, admin=admin, config=config, upstream=up)
    finally:
        await asyncio.to_thread(devnet.down, d)
