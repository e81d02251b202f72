"""The committed contracts/build/*.json must be what the pinned solcjs builds from contracts/src today."""

from __future__ import annotations

import json

import pytest

from reconciler.chain.artifacts import build_dir
from reconciler.devnet.contracts_build import compile_sources


@pytest.mark.slow  # the pinned solcjs compiles every source: about 40 s
def test_committed_artifacts_match_a_fresh_build() -> None:
    fresh = compile_sources()
    committed = {p.stem: json.loads(p.read_text()) for p in build_dir().glob("*.json")}
    assert sorted(fresh) == sorted(committed), "run `make contracts` and commit contracts/build"
    stale = [
        name
        for name, art in fresh.items()
        if (art["abi"], art["bytecode"], art["deployedBytecode"])
        != (committed[name]["abi"], committed[name]["bytecode"], committed[name]["deployedBytecode"])
    ]
    assert not stale, f"contracts/build is stale for {stale}: run `make contracts` and commit the artifacts"
