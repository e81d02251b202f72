"""Shared setup for apply/watch tests on a real devnet: a devnet per test, the example desired state in a
temp folder, and readers for what the chain says (events, balances)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from reconciler.artifacts import load_artifact

ROOT = Path(__file__).resolve().parent.parent
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

    def bid_posts(self) -> list[Any]:
        return list(self.market().events.MarketplaceBidPosted().get_logs(from_block=0))

    def edit(self, old: str, new: str) -> None:
        text = self.yaml.read_text()
        assert old in text, old
        self.yaml.write_text(text.replace(old, new))

    def reconcile(
        self, *args: str, extra_env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run the real `reconcile` command in a child process (so it can be killed like a real one)."""
        env = {**os.environ, **self.env(**(extra_env or {}))}
        return subprocess.run(
            [sys.executable, "-m", "reconciler.cli", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            cwd=self.work,
        )


def example_in(work: Path) -> Path:
    """The devnet example, with its forwarder file in `work` instead of the repo's scratch folder."""
    text = EXAMPLE.read_text().replace(
        "modelsConfigPath: ../../.demo/forwarder-models.json", f"modelsConfigPath: {work / 'forwarder-models.json'}"
    )
    path = work / "desired.yaml"
    path.write_text(text)
    return path
