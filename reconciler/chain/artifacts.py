"""Built contract artifacts (ABI + bytecode), committed under contracts/build/ so Python never needs node."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]


def contracts_dir() -> Path:
    """The contracts/ folder (override with RECONCILER_CONTRACTS_DIR for an installed copy)."""
    return Path(os.environ.get("RECONCILER_CONTRACTS_DIR", REPO_ROOT / "contracts"))


def build_dir() -> Path:
    return contracts_dir() / "build"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployed_bytecode: str


@cache
def load_artifact(name: str) -> Artifact:
    """Load contracts/build/<name>.json; raises FileNotFoundError naming the missing file."""
    path = build_dir() / f"{name}.json"
    if not path.is_file():
        raise FileNotFoundError(f"contract artifact {path} is missing; run `make contracts` to build it")
    data = json.loads(path.read_text())
    return Artifact(
        name=name,
        abi=data["abi"],
        bytecode=data["bytecode"],
        deployed_bytecode=data["deployedBytecode"],
    )
