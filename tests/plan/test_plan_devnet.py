"""`reconcile plan` against a real devnet (anvil + our contracts): creates, costs, exit codes, round trips."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.cli import cli
from reconciler.desired.loader import load_desired
from reconciler.desired.schema import load_schema
from reconciler.devnet import buyer as sessions_devnet
from reconciler.devnet import unlocked
from reconciler.market import ids
from reconciler.pipeline import make_plan, plan_for
from reconciler.plan.gas import GAS_BY_KIND
from reconciler.plan.model import ActionKind, Status
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "desired-state" / "devnet.yaml"
MOR = 10**18


def env(net: dict[str, Any], **extra: str) -> dict[str, str]:
    return {"RECONCILE_DEVNET_DIR": net["dir"], "DEMO_UPSTREAM_KEY": "demo-upstream-key", **extra}


def test_devnet_example_plans_every_create(net: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(
        cli,
        ["plan", str(EXAMPLE), "--format", "json", "--out", str(out), "--detailed-exitcode"],
        env=env(net),
    )
    assert result.exit_code == 2, result.output
    data = json.loads(out.read_text())
    jsonschema.validate(data, load_schema("plan.schema.json"))
    params = net["params"]
    pending = [a for a in data["actions"] if a["status"] == "pending"]
    assert [a["kind"] for a in pending] == [
        "mor.approve",
        "provider.register",
        "model.register",
        "model.register",
        "proxy.write-config",
        "bid.post",
        "bid.post",
    ]
    assert data["summary"]["fees"] == 2 * params["bid_fee"]
    assert data["summary"]["stake"] == params["provider_min_stake"] + 2 * params["model_min_stake"]
    assert pending[0]["after"]["allowance"] == data["summary"]["morOut"]
    assert data["network"]["chainId"] == 31337 and data["block"]["number"] > 0
    assert "demo-upstream-key" not in out.read_text() and "demo-upstream-key" not in result.output


def test_text_and_markdown_render(net: dict[str, Any]) -> None:
    r = CliRunner().invoke(cli, ["plan", str(EXAMPLE), "--verbose"], env=env(net, NO_COLOR="1"))
    assert r.exit_code == 0, r.output
    assert "Plan: 5 to create, 2 to update, 0 to delete; fees 0.6 MOR, stake +0.4 MOR" in r.output
    assert "\033[" not in r.output and "RPC round trip" in r.output
    r = CliRunner().invoke(cli, ["plan", str(EXAMPLE), "--format", "markdown"], env=env(net))
    assert r.output.startswith("### `reconcile plan`") and "<details>" in r.output


def test_wrong_chain_and_missing_code_are_refused(net: dict[str, Any], tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "  preset: devnet ",
        f'  chainId: 1\n  diamond: "{net["diamond"]}"\n  mor: "{net["mor"]}"\n  rpcUrl: env:RPC ',
    )
    (tmp_path / "s.yaml").write_text(text)
    r = CliRunner().invoke(cli, ["plan", str(tmp_path / "s.yaml")], env=env(net, RPC=net["rpcUrl"]))
    assert r.exit_code == 1 and "chain 31337" in r.output and net["rpcUrl"] not in r.output
    text = text.replace("chainId: 1", "chainId: 31337").replace(net["diamond"], "0x" + "12" * 20)
    (tmp_path / "s.yaml").write_text(text)
    r = CliRunner().invoke(cli, ["plan", str(tmp_path / "s.yaml")], env=env(net, RPC=net["rpcUrl"]))
    assert r.exit_code == 1 and "no contract code" in r.output
    text = text.replace("0x" + "12" * 20, net["diamond"]).replace(net["mor"], net["delegateRegistry"])
    (tmp_path / "s.yaml").write_text(text)
    r = CliRunner().invoke(cli, ["plan", str(tmp_path / "s.yaml")], env=env(net, RPC=net["rpcUrl"]))
    assert r.exit_code == 1 and "getToken()" in r.output


def _contracts(net: dict[str, Any]) -> tuple[Web3, Any, Any]:
    w3 = Web3(Web3.HTTPProvider(net["rpcUrl"]))
    market = w3.eth.contract(address=net["diamond"], abi=load_artifact("Marketplace").abi)
    mor = w3.eth.contract(address=net["mor"], abi=load_artifact("MorToken").abi)
    return w3, market, mor


def _desired_yaml(provider: str, n: int, modelsconfig: Path) -> str:
    models = "".join(
        f'  - name: bulk-{i}\n    upstream: u\n    upstreamModel: m{i}\n    stake: "0.1 MOR"\n'
        f'    bid:\n      pricePerSecond: "0.006 MOR"\n'
        for i in range(n)
    )
    return (
        f'network:\n  preset: devnet\nsigner:\n  address: "{provider}"\n  privateKey: env:K\n'
        f'provider:\n  address: "{provider}"\n  endpoint: 127.0.0.1:3333\n  stake: "0.2 MOR"\n'
        "upstreams:\n  u:\n    baseUrl: http://127.0.0.1:9/v1\n    apiKey: env:DEMO_UPSTREAM_KEY\n    resaleAllowed: true\n"
        f"models:\n{models}proxy:\n  modelsConfigPath: {modelsconfig}\n"
        'policy:\n  maxSpendPerApply: "100 MOR"\n  allowEmpty: true\n'
    )


def _open(net: dict[str, Any], w3: Web3, provider_index: int, bid: bytes, buyer_index: int = 8) -> None:
    stake = sessions_devnet.stake_for_duration(w3, net["diamond"], bid, 600)
    sessions_devnet.open_session(
        w3,
        net["diamond"],
        net["accounts"][buyer_index]["address"],
        net["accounts"][provider_index]["privateKey"],
        bid,
        stake,
    )


def test_round_trips_do_not_grow_with_models_bids_and_sessions_and_gas_table_holds(
    net: dict[str, Any], tmp_path: Path
) -> None:
    """Register 100 models with 100 bids (3 with live sessions, one on a replaced bid) for a fresh provider, then
    plan: the same round trips as for 1 model with one session on a replaced bid."""
    w3, market, mor = _contracts(net)
    small_provider = net["accounts"][3]["address"]
    big_provider = net["accounts"][4]["address"]
    gas_used: dict[ActionKind, int] = {}
    for provider, n in ((small_provider, 1), (big_provider, 100)):
        r = unlocked.send(w3, mor.functions.approve(net["diamond"], 1000 * MOR), provider)
        gas_used[ActionKind.MOR_APPROVE] = r["gasUsed"]
        r = unlocked.send(w3, market.functions.providerRegister(provider, 2 * MOR // 10, "127.0.0.1:3333"), provider)
        gas_used[ActionKind.PROVIDER_REGISTER] = r["gasUsed"]
        for i in range(n):
            base = bytes.fromhex(ids.base_model_id_for_name(f"bulk-{i}")[2:])
            r = unlocked.send(
                w3,
                market.functions.modelRegister(provider, base, b"\0" * 32, 0, MOR // 10, f"bulk-{i}", ["llm"]),
                provider,
            )
            gas_used[ActionKind.MODEL_REGISTER] = max(gas_used.get(ActionKind.MODEL_REGISTER, 0), r["gasUsed"])
            mid = bytes.fromhex(ids.model_id(provider, "0x" + base.hex())[2:])
            r = unlocked.send(w3, market.functions.postModelBid(provider, mid, 6 * 10**15), provider)
            gas_used[ActionKind.BID_POST] = max(gas_used.get(ActionKind.BID_POST, 0), r["gasUsed"])
    mid0 = bytes.fromhex(ids.model_id(small_provider, ids.base_model_id_for_name("bulk-0"))[2:])
    big_bids = market.functions.getProviderActiveBids(big_provider, 0, 1000).call()[0]
    for bid in big_bids[:3]:
        _open(net, w3, 4, bid)
    _open(net, w3, 3, market.functions.getProviderActiveBids(small_provider, 0, 10).call()[0][0])
    big_mid = market.functions.getBid(big_bids[0]).call()[1]
    unlocked.send(
        w3, market.functions.postModelBid(big_provider, big_mid, 6 * 10**15), big_provider
    )  # session on a deleted bid
    r = unlocked.send(
        w3, market.functions.postModelBid(small_provider, mid0, 7 * 10**15), small_provider
    )  # replaces a bid
    gas_used[ActionKind.BID_POST] = max(gas_used[ActionKind.BID_POST], r["gasUsed"])
    r = unlocked.send(
        w3, market.functions.providerRegister(small_provider, MOR // 10, "127.0.0.1:3334"), small_provider
    )
    gas_used[ActionKind.PROVIDER_UPDATE] = r["gasUsed"]
    base0 = bytes.fromhex(ids.base_model_id_for_name("bulk-0")[2:])
    r = unlocked.send(
        w3,
        market.functions.modelRegister(small_provider, base0, b"\0" * 32, 0, MOR // 10, "renamed", ["llm"]),
        small_provider,
    )
    gas_used[ActionKind.MODEL_UPDATE] = r["gasUsed"]
    r = unlocked.send(
        w3, market.functions.modelRegister(small_provider, base0, b"\0" * 32, 0, 0, "bulk-0", ["llm"]), small_provider
    )

    trips = {}
    for provider, n in ((small_provider, 1), (big_provider, 100)):
        path = tmp_path / f"{n}.yaml"
        path.write_text(_desired_yaml(provider, n, tmp_path / f"fwd-{n}.json"))
        observed, p = plan_for(load_desired(path)[0], env(net))
        trips[n] = p.rpc_round_trips
        live = observed.chain.live_sessions()
        assert len(live) == (3 if n == 100 else 1)
        deleted = [b for b in observed.chain.bids if not b.active]
        assert len(deleted) == 1 and len(deleted[0].live_sessions) == 1  # the replaced bid, kept for its session
        assert {s.model_id for s in live} <= {m.model_id for m in observed.chain.models}
        chain_pending = [a for a in p.pending if a.kind is not ActionKind.PROXY_WRITE_CONFIG]
        if n == 100:
            assert chain_pending == [], [a.reason for a in chain_pending]
            assert sum(1 for a in p.actions if a.status is Status.PENDING) == 1  # the proxy file
    assert trips[1] == trips[100] == 5, trips

    # gas table: every measured kind fits under the planner's figure, and the figure is at most twice it
    # deletes, in the order the planner uses: bid -> model -> provider
    bid = market.functions.getProviderActiveBids(small_provider, 0, 10).call()[0][0]
    gas_used[ActionKind.BID_DELETE] = unlocked.send(w3, market.functions.deleteModelBid(bid), small_provider)["gasUsed"]
    r = unlocked.send(w3, market.functions.modelDeregister(mid0), small_provider)
    gas_used[ActionKind.MODEL_DEREGISTER] = r["gasUsed"]
    r = unlocked.send(w3, market.functions.providerDeregister(small_provider), small_provider)
    gas_used[ActionKind.PROVIDER_DEREGISTER] = r["gasUsed"]
    print({k.value: v for k, v in gas_used.items()})
    for kind, used in gas_used.items():
        assert used <= GAS_BY_KIND[kind], (kind, used)
        assert used * 2 >= GAS_BY_KIND[kind], (kind, used)


def _fresh_account(w3: Web3, mor: Any, funder: str) -> str:
    """A new address anvil sends from (impersonated), with ETH for gas and 10 MOR from `funder`."""
    address = Web3.to_checksum_address("0x" + os.urandom(20).hex())
    w3.provider.make_request("anvil_impersonateAccount", [address])  # type: ignore[arg-type]
    w3.provider.make_request("anvil_setBalance", [address, hex(10**20)])  # type: ignore[arg-type]
    unlocked.send(w3, mor.functions.transfer(address, 10 * MOR), funder)
    return address


def _gas_of_every_kind(w3: Web3, market: Any, mor: Any, provider: str, sender: str) -> dict[str, int]:
    """Each kind of write for `provider`, sent by `sender` (the provider itself, or a hot key holding its rights),
    in the planner's order; the gas each receipt shows, by kind (bid.post twice: a pair's first post, a repost)."""
    used: dict[str, int] = {}

    def send(kind: str, fn: Any, by: str = sender) -> None:
        used[kind] = int(unlocked.send(w3, fn, by)["gasUsed"])

    send(ActionKind.MOR_APPROVE.value, mor.functions.approve(market.address, 10 * MOR), provider)  # the wallet's
    send(ActionKind.PROVIDER_REGISTER.value, market.functions.providerRegister(provider, 2 * MOR // 10, "h:3333"))
    base = bytes.fromhex(ids.base_model_id_for_name("gas-model")[2:])
    register = market.functions.modelRegister(provider, base, b"\0" * 32, 0, MOR // 10, "gas-model", ["llm"])
    send(ActionKind.MODEL_REGISTER.value, register)
    mid = bytes.fromhex(ids.model_id(provider, "0x" + base.hex())[2:])
    send("bid.post (first)", market.functions.postModelBid(provider, mid, 6 * 10**15))
    send("bid.post (repost)", market.functions.postModelBid(provider, mid, 7 * 10**15))
    send(ActionKind.PROVIDER_UPDATE.value, market.functions.providerRegister(provider, MOR // 10, "h:3334"))
    renamed = market.functions.modelRegister(provider, base, b"\0" * 32, 0, MOR // 10, "renamed", ["llm"])
    send(ActionKind.MODEL_UPDATE.value, renamed)
    bid = market.functions.getProviderActiveBids(provider, 0, 10).call()[0][0]
    send(ActionKind.BID_DELETE.value, market.functions.deleteModelBid(bid))
    send(ActionKind.MODEL_DEREGISTER.value, market.functions.modelDeregister(mid))
    send(ActionKind.PROVIDER_DEREGISTER.value, market.functions.providerDeregister(provider))
    return used


@pytest.mark.parametrize("mode", ["provider", "delegate"])
def test_the_gas_table_bounds_every_kind_in_both_signing_modes(net: dict[str, Any], mode: str) -> None:
    """The provider signing its own writes, and a hot key with its delegated rights (issue 27: the registry's
    rights check costs gas the provider's own writes do not pay)."""
    w3, market, mor = _contracts(net)
    provider = _fresh_account(w3, mor, net["accounts"][0]["address"])
    sender = provider
    if mode == "delegate":
        sender = _fresh_account(w3, mor, net["accounts"][0]["address"])
        registry = w3.eth.contract(address=net["delegateRegistry"], abi=load_artifact("DelegateRegistry").abi)
        for right in ("provider", "model", "marketplace"):
            rights = Web3.keccak(text=f"delegation.rules.{right}")
            unlocked.send(w3, registry.functions.delegateContract(sender, net["diamond"], rights, True), provider)
    used = _gas_of_every_kind(w3, market, mor, provider, sender)
    print(mode, used)
    for label, gas in used.items():
        kind = ActionKind(label.split(" ")[0])
        assert gas <= GAS_BY_KIND[kind], (mode, label, gas)
        assert gas * 2 >= GAS_BY_KIND[kind], (mode, label, gas)


def test_unreachable_proxy_plans_the_chain_alone_and_require_proxy_fails(net: dict[str, Any], tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        "  modelsConfigPath: ../../.demo/forwarder-models.json",
        f"  modelsConfigPath: {tmp_path / 'fwd.json'}\n  adminUrl: http://127.0.0.1:{free_port()}\n"
        "  adminToken: env:ADMIN_TOKEN",
    )
    path = tmp_path / "s.yaml"
    path.write_text(text)
    r = CliRunner().invoke(cli, ["plan", str(path), "--detailed-exitcode"], env=env(net, ADMIN_TOKEN="t"))
    assert r.exit_code == 2, r.output
    assert "the proxy could not be reached" in r.output and "bid.post" in r.output
    r = CliRunner().invoke(cli, ["plan", str(path), "--require-proxy"], env=env(net, ADMIN_TOKEN="t"))
    assert r.exit_code == 1 and "--require-proxy" in r.output


def test_delegate_signer_rights_are_read_on_chain(net: dict[str, Any], tmp_path: Path) -> None:
    w3, _, _ = _contracts(net)
    registry = w3.eth.contract(address=net["delegateRegistry"], abi=load_artifact("DelegateRegistry").abi)
    provider, signer = net["accounts"][6]["address"], net["accounts"][7]["address"]
    text = _desired_yaml(provider, 1, tmp_path / "fwd.json").replace(
        f'signer:\n  address: "{provider}"', f'signer:\n  address: "{signer}"'
    )
    path = tmp_path / "delegate.yaml"
    path.write_text(text)
    _, p = make_plan(path, env(net))
    approve = next(a for a in p.actions if a.kind is ActionKind.MOR_APPROVE)
    assert approve.status is Status.MANUAL
    register = next(a for a in p.actions if a.kind is ActionKind.PROVIDER_REGISTER)
    assert any("'provider' delegation rights" in e for e in register.errors)
    for right in ("provider", "model"):
        rights = Web3.keccak(text=f"delegation.rules.{right}")
        unlocked.send(w3, registry.functions.delegateContract(signer, net["diamond"], rights, True), provider)
    _, p = make_plan(path, env(net))
    errors = {a.kind.value: a.errors for a in p.actions if a.errors}
    assert "provider.register" not in errors and "model.register" not in errors
    assert any("'marketplace'" in e for e in errors["bid.post"])


def test_l1_data_fee_from_the_gas_price_oracle(net: dict[str, Any], tmp_path: Path) -> None:
    """On an OP-stack chain the GasPriceOracle predeploy quotes the L1 data fee; here one that always says 7 gwei."""
    w3, _, _ = _contracts(net)
    fee = 7 * 10**9
    runtime = "0x7f" + f"{fee:064x}" + "60005260206000f3"  # PUSH32 fee; MSTORE at 0; RETURN 32 bytes
    w3.provider.make_request("anvil_setCode", ["0x420000000000000000000000000000000000000F", runtime])  # type: ignore[arg-type]
    try:
        text = EXAMPLE.read_text().replace("  preset: devnet ", "  l1DataFee: true\n  preset: devnet ")
        path = tmp_path / "op.yaml"
        path.write_text(text.replace("../../.demo/forwarder-models.json", str(tmp_path / "fwd.json")))
        _, p = make_plan(path, env(net))
        gas_price = w3.eth.gas_price
        for a in p.actions:
            if a.kind in GAS_BY_KIND:
                assert (
                    a.cost.gas_wei == GAS_BY_KIND[a.kind] * gas_price + fee
                    or a.cost.gas_wei >= GAS_BY_KIND[a.kind] * gas_price + fee
                )
    finally:
        w3.provider.make_request("anvil_setCode", ["0x420000000000000000000000000000000000000F", "0x"])  # type: ignore[arg-type]


def test_plan_keeps_its_model_index_under_the_state_dir(net: dict[str, Any], tmp_path: Path) -> None:
    """Like apply, claim and watch: what plan learns of the registry goes under --state-dir, not ./.reconcile."""
    state = tmp_path / "state"
    result = CliRunner().invoke(cli, ["plan", str(EXAMPLE), "--state-dir", str(state)], env=env(net))
    assert result.exit_code == 0, result.output
    index = state / f"{net['chainId']}-{net['diamond'].lower()}" / "models.json"
    assert "ids" in json.loads(index.read_text())
    assert not Path(".reconcile").exists()  # the test's own working directory (tests/conftest.py)
    shown = CliRunner().invoke(cli, ["plan", "--help"]).output
    assert "--state-dir" in shown and "[default: .reconcile]" in shown
