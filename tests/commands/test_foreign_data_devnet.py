"""What strangers write on chain is data, never a failure (issue 26): on a real devnet another account registers
models and a provider whose strings no reconciler would write (bytes that are not UTF-8, a 100 KB name, 10,000
tags, an endpoint of control bytes), then deregisters one; `plan`, `status`, `import` and one run of the watcher
of the example provider give the same results as before the stranger came. A stranger's model that cannot be
read at all is skipped with one warning naming it; the provider's own model with a name that is not UTF-8 is
shown with U+FFFD and a warning.

The strangers call the contract directly with calldata built here (the ABI encodes `string` as `bytes`, so any
bytes can be sent). A 100 KB name or 10,000 tags cost more gas than anvil's default block allows (30M): the
module raises the devnet's block gas limit (`evm_setBlockGasLimit`, a node setting; the contracts cap neither
strings nor tag counts, nor do the Morpheus contracts they follow).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.devnet import local as devnet
from reconciler.watch.loop import Watcher, WatchOptions
from reconciler.watch.triggers import Trigger
from tests.support.apply_helpers import DevnetCase, example_in
from tests.support.ports import free_port
from tests.support.strangers import Stranger, raise_block_gas

pytestmark = pytest.mark.devnet

# --- what each command says, without what moves with the chain's height ------------------------------------------

_MOVING = {
    "block",
    "blockNumber",
    "blockHash",
    "blockTimestamp",
    "block_number",
    "timestamp",
    "observedFingerprint",
    "observed_fingerprint",
    "rpcRoundTrips",
    "rpc_round_trips",
    "roundTrips",
    "now",
    "generatedAt",
    "ts",
    "duration_ms",
    "durationMs",
    "endpoints",
    # today's margins grow with the clock (a subscription's share of the day so far); what was earned still counts
    "spanSeconds",
    "upstreamCostUsd",
    "marginUsd",
}


def _steady(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _steady(v) for k, v in doc.items() if k not in _MOVING}
    if isinstance(doc, list):
        return [_steady(v) for v in doc]
    return doc


def _run(*args: str, env: dict[str, str]) -> str:
    r = CliRunner().invoke(cli, list(args), env=env)
    assert r.exit_code in (0, 2), r.output
    return r.output


def _plan(case: DevnetCase) -> Any:
    return _steady(json.loads(_run("plan", str(case.yaml), "--format", "json", env=case.env())))


def _status(case: DevnetCase) -> Any:
    return _steady(json.loads(_run("status", str(case.yaml), "--format", "json", env=case.env())))


def _import(case: DevnetCase) -> str:
    args = ["import", "--network", "devnet", "--provider", case.provider, "--devnet-dir", str(case.dir)]
    text = _run(*args, env=case.env())
    return re.sub(r"block \d+( \(0x[0-9a-f]+\))?", "block N", text)


def _watch(case: DevnetCase, state: Path) -> Any:
    """One run of the watcher's loop, reporting only (no auto-apply)."""
    lines: list[str] = []
    w = Watcher(WatchOptions(path=case.yaml, state_dir=state, environ=case.env(), out=lines.append))
    try:
        line = w.run([Trigger("timer")])
    finally:
        w.files.stop()
    return {k: line.get(k) for k in ("result", "mode", "actions", "reasons", "error", "warnings", "txs")}


def _everything(case: DevnetCase, state: Path) -> dict[str, Any]:
    return {"plan": _plan(case), "status": _status(case), "import": _import(case), "watch": _watch(case, state)}


@pytest.fixture
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[DevnetCase, dict[str, Any]]]:
    """The example provider applied on its own devnet, and what every command says before any stranger came."""
    root = tmp_path_factory.mktemp("foreign")
    d, work = root / "devnet", root / "work"
    work.mkdir()
    info, _ = devnet.up(d, free_port())
    try:
        case = DevnetCase(info=info, dir=d, work=work, yaml=example_in(work), state=root / "state")
        raise_block_gas(case)
        r = case.reconcile("apply", str(case.yaml), "--auto-approve", "--state-dir", str(case.state))
        assert r.returncode == 0, r.stdout + r.stderr
        before = _everything(case, root / "watch-before")
        assert before["plan"]["actions"] is not None and before["watch"]["result"] == "no-changes", before["watch"]
        yield case, before
    finally:
        devnet.down(d)


def _same_as_before(case: DevnetCase, before: dict[str, Any], state: Path) -> None:
    """Every command, twice (the second from the model index the first saved), says what it said before."""
    for _ in range(2):
        now = _everything(case, state)
        for what in ("plan", "status", "import", "watch"):
            assert now[what] == before[what], what


def test_a_model_name_that_is_not_utf8_changes_nothing_even_after_it_is_deregistered(
    applied: tuple[DevnetCase, dict[str, Any]], tmp_path: Path
) -> None:
    case, before = applied
    _plan(case)  # the index of the registry as it was before the stranger came
    stranger = Stranger(case)
    mid = stranger.model("bad-utf8", b"bad\xff\xfename", [b"\xc3", b"ok"])
    _same_as_before(case, before, tmp_path / "w1")
    stranger.deregister(mid)  # its id stays in getModelIds for good
    _same_as_before(case, before, tmp_path / "w2")


def test_a_100_kb_model_name_changes_nothing(applied: tuple[DevnetCase, dict[str, Any]], tmp_path: Path) -> None:
    case, before = applied
    Stranger(case).model("huge-name", b"\xfe" + b"n" * 100_000)
    _same_as_before(case, before, tmp_path / "w")


def test_ten_thousand_tags_change_nothing(applied: tuple[DevnetCase, dict[str, Any]], tmp_path: Path) -> None:
    case, before = applied
    Stranger(case).model("many-tags", b"tags", [b"\xff%d" % i for i in range(10_000)])
    _same_as_before(case, before, tmp_path / "w")


def test_a_stranger_provider_with_an_endpoint_of_control_bytes_changes_nothing(
    applied: tuple[DevnetCase, dict[str, Any]], tmp_path: Path
) -> None:
    case, before = applied
    stranger = Stranger(case, index=4)
    stranger.provider(b"\x1b[2J\x1b]0;pwned\x07\xff\xfe\x00" * 50)
    own = next(m["modelId"] for m in before["status"]["models"] if m.get("modelId"))
    stranger.bid(own, 6 * 10**15)  # a competing bid on one of our models
    _same_as_before(case, before, tmp_path / "w")


def test_a_model_that_cannot_be_read_at_all_is_skipped_with_one_warning_naming_it(
    applied: tuple[DevnetCase, dict[str, Any]], tmp_path: Path
) -> None:
    case, before = applied
    mid = Stranger(case).model("unreadable", b"x", [b"t%d" % i for i in range(10_000)])
    # a node whose eth_call gas cap is below what reading 10,000 tags costs: getModel of that id reverts
    raise_block_gas(case, 10_000_000)
    for _ in range(2):  # the second from the index the first saved: the id is still unknown, read and skipped again
        plan = _plan(case)
        said = [w for w in plan["warnings"] if mid in w]
        assert len(said) == 1 and "cannot be read" in said[0] and "skipped" in said[0], plan["warnings"]
        assert plan == {**before["plan"], "warnings": [said[0], *before["plan"]["warnings"]]}


def test_our_own_model_with_a_name_that_is_not_utf8_is_shown_repaired_with_a_warning(
    applied: tuple[DevnetCase, dict[str, Any]],
) -> None:
    case, _ = applied
    mid = Stranger(case, index=1).model("own-bad", b"own\xff\xfename", [b"ok", b"\xc3"])  # the provider itself
    plan = _plan(case)
    drop = next(a for a in plan["actions"] if a["id"].endswith(mid))
    assert "own\ufffd\ufffdname" in json.dumps(drop, ensure_ascii=False), drop
    assert f"model {mid}: name is not UTF-8 (shown with U+FFFD)" in plan["warnings"]
    assert f"model {mid}: tags[1] is not UTF-8 (shown with U+FFFD)" in plan["warnings"]
    r = CliRunner().invoke(cli, ["plan", str(case.yaml)], env=case.env())
    assert r.exit_code in (0, 2) and "own\ufffd\ufffdname" in r.output and "not UTF-8" in r.output, r.output
    status = CliRunner().invoke(cli, ["status", str(case.yaml)], env=case.env())
    assert status.exit_code == 0 and f"warning: model {mid}: name is not UTF-8" in status.output, status.output
