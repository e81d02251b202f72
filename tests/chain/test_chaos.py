"""The chaos suite (issue 16): seeded runs of apply and of the watcher against one devnet behind two endpoint
simulators, with requests failing and cut, 429s, an endpoint killed mid-run, a base-fee spike, a dropped
transaction and a reorg (`tests/support/chaos.py` says how a seed draws them and what is checked after each run)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.chain import endpoint
from reconciler.devnet import local as devnet
from reconciler.devnet.anvil import free_port
from tests.support.chaos import run_seed
from tests.support.faults_helpers import Chain

SEEDS = range(1, 21)  # every fifth one a watcher run, the rest apply runs


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    d = tmp_path_factory.mktemp("devnet-chaos")
    try:
        info, _ = devnet.up(d, port=free_port())
        yield Chain(info, d)
    finally:
        devnet.down(d)


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One --state-dir for every seed, as on the provider's host: each run resumes the journal of the last."""
    return tmp_path_factory.mktemp("chaos-state")


@pytest.fixture(autouse=True)
def short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The endpoint client's retry rules as they are, with shorter waits: the suite runs 20 seeds in seconds."""
    monkeypatch.setattr(endpoint, "BACKOFF_BASE", 0.02)
    monkeypatch.setattr(endpoint, "RATE_BACKOFF_BASE", 0.04)


@pytest.mark.parametrize("seed", SEEDS)
def test_chaos_seed_converges_without_duplicates(chain: Chain, state: Path, tmp_path: Path, seed: int) -> None:
    mode = "watch" if seed % 5 == 0 else "apply"
    out = run_seed(chain, tmp_path / "work", state, seed, mode)
    assert out.problems() == [], (out.faults, out.errors)
    assert out.posts_planned >= 1 and out.duplicates == 0
