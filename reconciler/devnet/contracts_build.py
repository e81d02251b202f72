"""Compile contracts/src/*.sol with the pinned solcjs and write contracts/build/<Contract>.json.

The artifacts are committed; a test compiles again and fails when they no longer match the sources.
Run with `make contracts` (it puts tools/node_modules/.bin on PATH).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from reconciler.chain.artifacts import build_dir, contracts_dir

SETTINGS: dict[str, Any] = {
    "optimizer": {"enabled": True, "runs": 200},
    "evmVersion": "cancun",
    "viaIR": True,
    "outputSelection": {"*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]}},
}


def find_solcjs() -> str:
    exe = shutil.which("solcjs")
    if exe is None:
        local = contracts_dir().parent / "tools" / "node_modules" / ".bin" / "solcjs"
        if local.exists():
            return str(local)
        raise RuntimeError("solcjs not found: run `make setup` (installs the pinned npm solc into tools/)")
    return exe


def compile_sources(src_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Compile every .sol file under src_dir; return {contractName: artifact dict} for contracts with code."""
    src_dir = src_dir or contracts_dir() / "src"
    sources = {p.relative_to(src_dir).as_posix(): {"content": p.read_text()} for p in sorted(src_dir.rglob("*.sol"))}
    request = {"language": "Solidity", "sources": sources, "settings": SETTINGS}
    # solcjs exits before node flushes a piped stdout (output cut at 64 KiB), so it writes to a file.
    with tempfile.TemporaryFile(mode="w+") as out:
        subprocess.run(
            [find_solcjs(), "--standard-json"],
            input=json.dumps(request).encode(),
            stdout=out,
            stderr=subprocess.PIPE,
            check=True,
        )
        out.seek(0)
        stdout = out.read()
    output = json.loads(stdout[stdout.index("{") :])
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise RuntimeError("\n".join(e.get("formattedMessage", e["message"]) for e in errors))
    version = subprocess.run([find_solcjs(), "--version"], capture_output=True, text=True).stdout.strip()
    artifacts: dict[str, dict[str, Any]] = {}
    for source, contracts in output.get("contracts", {}).items():
        for name, out in contracts.items():
            bytecode = out["evm"]["bytecode"]["object"]
            if not bytecode:
                continue  # interfaces and abstract contracts
            artifacts[name] = {
                "contractName": name,
                "sourceName": source,
                "compiler": {
                    "solcjs": version,
                    "settings": {k: v for k, v in SETTINGS.items() if k != "outputSelection"},
                },
                "abi": out["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + out["evm"]["deployedBytecode"]["object"],
            }
    return artifacts


def write_artifacts(artifacts: dict[str, dict[str, Any]], out_dir: Path | None = None) -> list[Path]:
    out_dir = out_dir or build_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, art in sorted(artifacts.items()):
        path = out_dir / f"{name}.json"
        path.write_text(json.dumps(art, indent=1, sort_keys=True) + "\n")
        written.append(path)
    return written


def main() -> int:
    try:
        paths = write_artifacts(compile_sources())
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"contract build failed: {exc}", file=sys.stderr)
        return 1
    for p in paths:
        print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
