"""`reconcile import` on a real devnet: the round trip (import, fill in, plan: nothing pending), the modelId
fallback for a model registered through another contract, and the base-id recovery on its own."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.chain.calls import ChainCalls
from reconciler.chain.journal import Journal
from reconciler.chain.registrations import base_id_from_calldata
from reconciler.chain.sender import TxRequest, TxSender
from reconciler.cli import cli
from reconciler.desired.loader import load_desired
from reconciler.desired.modelsconfig import forwarder_file
from reconciler.devnet.anvil import free_port
from reconciler.market import ids

MOR = 10**18
UPSTREAM_KEY = "sk-import-test-upstream"


class Wallet:
    """One dev account writing through ChainCalls + TxSender, as apply does."""

    def __init__(self, net: dict[str, Any], index: int, journal: Path) -> None:
        self.w3 = Web3(Web3.HTTPProvider(net["rpcUrl"]))
        self.account = Account.from_key(net["accounts"][index]["privateKey"])
        self.address = self.account.address
        self.calls = ChainCalls(net["diamond"], net["mor"])
        self.sender = TxSender(
            self.w3, self.account, Journal(journal), plan_id="setup", decoder=self.calls.decoder, poll_interval=0.05
        )

    def do(self, *reqs: TxRequest) -> None:
        for req in reqs:
            self.sender.wait([self.sender.send(req)])

    def model(self, name: str, tags: list[str], stake: int = MOR // 10, fee: int = 0) -> str:
        base = ids.base_model_id_for_name(name)
        self.do(self.calls.model_register("m", self.address, base, "", fee, stake, name, tags, "model.register"))
        return ids.model_id(self.address, base)

    def bid(self, model_id: str, price: int) -> None:
        self.do(self.calls.bid_post("b", self.address, model_id, price))


def _import(net: dict[str, Any], provider: str) -> Any:
    args = ["import", "--network", "devnet", "--provider", provider, "--devnet-dir", net["dir"]]
    return CliRunner().invoke(cli, args)


def fill_in(text: str, models_config: Path) -> str:
    """What an operator does: uncomment every '# fill in:' line (keeping the suggested values)."""
    out = []
    for line in text.splitlines():
        if "# fill in:" in line and line.lstrip().startswith("# "):
            indent = len(line) - len(line.lstrip())
            line = " " * indent + line.lstrip()[2:]
        out.append(line)
    return "\n".join(out).replace("modelsConfigPath: models-config.json", f"modelsConfigPath: {models_config}") + "\n"


def _env(net: dict[str, Any]) -> dict[str, str]:
    return {"RECONCILE_DEVNET_DIR": net["dir"], "UPSTREAM_1_API_KEY": UPSTREAM_KEY}


def _round_trip(net: dict[str, Any], imported: str, tmp_path: Path) -> Any:
    """Fill in, write the forwarder file as apply would, then plan with --detailed-exitcode."""
    path = tmp_path / "desired.yaml"
    path.write_text(imported)
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 1, r.output  # the placeholders are not filled yet: refused on purpose
    fwd = tmp_path / "forwarder-models.json"
    path.write_text(fill_in(imported, fwd))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 0, r.output
    desired, _ = load_desired(path)
    fwd.write_text(json.dumps(forwarder_file(desired, None, environ=_env(net))))
    return CliRunner().invoke(cli, ["plan", str(path), "--detailed-exitcode"], env={**_env(net), "NO_COLOR": "1"})


def test_import_of_the_devnet_example_provider_plans_nothing(net: dict[str, Any], tmp_path: Path) -> None:
    """Set up a provider as examples/desired-state/devnet.yaml would, import it: the plan has no changes."""
    p = Wallet(net, 2, tmp_path / "setup.jsonl")
    p.do(
        p.calls.approve("a", 10 * MOR), p.calls.provider_register("p", p.address, 2 * MOR // 10, "127.0.0.1:3333", "x")
    )
    chat = p.model("demo-chat", ["llm"])
    emb = p.model("demo-embeddings", ["embedding"])
    p.bid(chat, 6 * 10**15)
    p.bid(emb, -(-11 * MOR // 900))  # the example's cost model, rounded up to whole wei

    r = _import(net, p.address)
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert 'name: "demo-chat"' in text and 'name: "demo-embeddings"' in text
    assert f'baseModelId: "{ids.base_model_id_for_name("demo-chat")}"' in text
    assert 'pricePerSecond: "0.006 MOR"' in text
    assert f'pricePerSecond: "{-(-11 * MOR // 900)} wei"' not in text  # exact: 0.012222… MOR to the last wei
    assert 'stake: "0.2 MOR"' in text and "endpoint: embeddings" in text
    assert "2 model(s) (2 own, 0 by modelId), 2 bid(s), 7 RPC round trips" in r.stderr
    plan = _round_trip(net, text, tmp_path)
    assert plan.exit_code == 0, plan.output
    assert "No changes" in plan.output or "0 to create, 0 to update, 0 to delete" in plan.output
    assert UPSTREAM_KEY not in plan.output


FORWARDER_CODE = (  # forwards its calldata to the Diamond with the word at offset 0x24 inverted (NOT)
    "36600060003760245119602452600060003660006000"  # copy calldata, NOT mem[0x24..0x44], CALL args
    "73{diamond}5af1603a57"  # PUSH20 diamond, GAS, CALL, jump to 0x3a on success
    "3d600060003e3d6000fd5b00"  # else bubble up the revert data; JUMPDEST STOP
)


def test_model_registered_through_another_contract_is_imported_by_model_id(net: dict[str, Any], tmp_path: Path) -> None:
    p = Wallet(net, 3, tmp_path / "setup.jsonl")
    other = Wallet(net, 4, tmp_path / "other.jsonl")
    p.do(p.calls.approve("a", 10 * MOR), p.calls.provider_register("p", p.address, 3 * MOR // 10, "10.0.0.1:3333", "x"))
    p.model("plain", ["llm"], stake=MOR // 5, fee=MOR // 100)  # bid: none
    other.do(other.calls.approve("a", MOR))
    theirs = other.model("shared-model", ["llm"])
    p.bid(theirs, 7 * 10**15)

    # a forwarding contract registers for the provider (it holds the 'model' right): the calldata the
    # provider sends does not carry the base model id that the Diamond sees
    forwarder = Web3.to_checksum_address("0x" + "fa" * 20)
    code = "0x" + FORWARDER_CODE.format(diamond=net["diamond"][2:].lower())
    p.w3.provider.make_request("anvil_setCode", [forwarder, code])  # type: ignore[arg-type]
    registry = p.w3.eth.contract(address=net["delegateRegistry"], abi=load_artifact("DelegateRegistry").abi)
    rights = keccak(text="delegation.rules.model")
    p.do(
        TxRequest(
            "d",
            "delegate",
            registry.address,
            registry.encode_abi("delegateContract", [forwarder, net["diamond"], rights, True]),
        )
    )
    sent_base = ids.base_model_id_for_name("wrapped")
    req = p.calls.model_register("m", p.address, sent_base, "", 0, MOR // 10, "wrapped", ["embedding"], "x")
    p.do(TxRequest("m", "model.register", forwarder, req.data))
    real_base = "0x" + bytes(b ^ 0xFF for b in bytes.fromhex(sent_base[2:])).hex()
    wrapped = ids.model_id(p.address, real_base)
    market = p.w3.eth.contract(address=net["diamond"], abi=load_artifact("Marketplace").abi)
    assert market.functions.getModel(bytes.fromhex(wrapped[2:])).call()[4] == "wrapped"
    p.bid(wrapped, 8 * 10**15)

    r = _import(net, p.address)
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert f'- modelId: "{wrapped}"' in text and "# NOT MANAGED:" in text
    assert f"note: model 'wrapped' ({wrapped}) is declared by modelId" in r.stderr
    assert "not managed" in r.stderr
    assert f'- modelId: "{theirs}"' in text and f"owned by {other.address}" in text
    assert 'name: "plain"' in text and "bid: none" in text and 'fee: "0.01 MOR"' in text
    assert "3 model(s) (1 own, 2 by modelId), 2 bid(s), 7 RPC round trips" in r.stderr
    plan = _round_trip(net, text, tmp_path)
    assert plan.exit_code == 0, plan.output


def test_unregistered_provider_and_bad_address_are_refused(net: dict[str, Any]) -> None:
    r = _import(net, net["accounts"][9]["address"])
    assert r.exit_code == 1 and "not a registered provider" in r.stderr
    r = _import(net, "0x1234")
    assert r.exit_code == 1 and "not an address" in r.stderr
    r = CliRunner().invoke(cli, ["import", "--network", "base", "--provider", net["accounts"][9]["address"]])
    assert r.exit_code == 1 and "--rpc-url" in r.stderr
    secret_url = f"http://127.0.0.1:{free_port()}/v2/secret-api-key-123"
    args = ["import", "--network", "devnet", "--devnet-dir", net["dir"], "--rpc-url", "env:RPC"]
    r = CliRunner().invoke(cli, [*args, "--provider", net["accounts"][9]["address"]], env={"RPC": secret_url})
    assert r.exit_code == 1 and "did not answer" in r.stderr and "secret-api-key" not in r.output


def test_base_id_from_calldata_direct_wrapped_and_missing() -> None:
    owner = "0x" + "11" * 20
    base = "0x" + keccak(text="b").hex()
    mid = ids.model_id(owner, base)
    calls = ChainCalls("0x" + "22" * 20, "0x" + "33" * 20)
    data = bytes.fromhex(calls.model_register("m", owner, base, "", 0, 1, "n", ["llm"], "x").data[2:])
    assert base_id_from_calldata(owner, mid, data) == (base, True)
    wrapped = bytes.fromhex("deadbeef") + b"\0" * 7 + data  # e.g. inside a multicall, unaligned
    assert base_id_from_calldata(owner, mid, wrapped) == (base, False)
    assert base_id_from_calldata("0x" + "44" * 20, mid, data) == (None, False)  # the hash is always checked
    assert base_id_from_calldata(owner, mid, data[:40]) == (None, False)
    assert re.fullmatch(r"0x[0-9a-f]{64}", base)
