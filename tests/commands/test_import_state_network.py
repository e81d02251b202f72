"""`reconcile import` names the network as the desired state may: a preset, or chain id, Diamond and MOR;
the log-scan options are accepted, ignored and warned about."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from web3 import Web3

from reconciler.chain.artifacts import load_artifact
from reconciler.cli import cli
from reconciler.desired.loader import load_desired
from reconciler.devnet import unlocked

MOR = 10**18


def test_network_options_follow_the_desired_states_rules() -> None:
    who = ["--provider", "0x" + "33" * 20]
    cases = [
        (["--chain-id", "1", "--rpc-url", "env:R"], "give --network PRESET, or all of --chain-id, --diamond and --mor"),
        (["--chain-id", "1", "--diamond", "0x12", "--mor", "0x" + "11" * 20], "--diamond '0x12' is not an address"),
        (["--chain-id", "8453", "--diamond", "0x" + "22" * 20, "--mor", "0x" + "11" * 20], "needs --rpc-url"),
        (["--network", "base"], "network base needs --rpc-url"),
    ]
    for args, message in cases:
        r = CliRunner().invoke(cli, ["import", *args, *who])
        assert r.exit_code == 1 and message in r.stderr, (args, r.output)


def test_import_by_chain_id_diamond_and_mor_writes_them_and_warns_about_log_options(
    net: dict[str, Any], tmp_path: Path
) -> None:
    w3 = Web3(Web3.HTTPProvider(net["rpcUrl"]))
    provider = net["accounts"][6]["address"]
    mor = w3.eth.contract(address=net["mor"], abi=load_artifact("MorToken").abi)
    market = w3.eth.contract(address=net["diamond"], abi=load_artifact("Marketplace").abi)
    unlocked.send(w3, mor.functions.approve(net["diamond"], MOR), provider)
    unlocked.send(w3, market.functions.providerRegister(provider, 2 * MOR // 10, "10.0.0.6:3333"), provider)
    args = ["import", "--chain-id", "31337", "--diamond", net["diamond"], "--mor", net["mor"]]
    args += ["--rpc-url", "env:RPC", "--provider", provider, "--from-block", "5", "--log-block-range", "100"]
    r = CliRunner().invoke(cli, args, env={"RPC": net["rpcUrl"]})
    assert r.exit_code == 0, r.output
    assert "warning: --from-block is deprecated and ignored" in r.stderr
    assert "warning: --log-block-range is deprecated and ignored" in r.stderr
    text = r.stdout
    assert "preset:" not in text and "chainId: 31337" in text
    assert f'diamond: "{net["diamond"]}"' in text and f'mor: "{net["mor"]}"' in text
    assert "rpcUrl: env:RPC" in text and "fromBlock" not in text and "logBlockRange" not in text
    assert "from chain 31337 at block" in text
    path = tmp_path / "imported.yaml"
    path.write_text(text)
    desired, _ = load_desired(path)
    assert desired.network.chain_id == 31337 and desired.network.preset is None


def test_network_from_block_and_log_block_range_load_with_a_deprecation_warning(tmp_path: Path) -> None:
    from tests.support.planfactory import BASE_YAML

    path = tmp_path / "s.yaml"
    path.write_text(
        BASE_YAML.replace("  rpcUrl: env:RPC\n", "  rpcUrl: env:RPC\n  fromBlock: 100\n  logBlockRange: 2000\n")
    )
    _, warnings = load_desired(path)
    text = "\n".join(str(w) for w in warnings)
    assert "network.fromBlock" in text and "network.logBlockRange" in text and "deprecated and ignored" in text


def test_the_same_provider_twice_is_refused_before_any_chain_read(tmp_path: Path) -> None:
    """`import --out DIR --provider A --provider a`: one address twice, in any case, would be two members of one
    provider on one network, which the fleet's validation refuses. Refused at once, naming it; nothing is read
    (the RPC below has nothing listening) and nothing is written."""
    from tests.support.ports import free_port

    a, b = "0x" + "ab" * 20, "0x" + "cd" * 20
    for given in ([a, Web3.to_checksum_address(a)], [b, a, a.upper().replace("0X", "0x")]):
        out = tmp_path / f"fleet{len(given)}"
        args = ["import", "--network", "base", "--rpc-url", "env:DEAD_RPC", "--out", str(out)]
        args += [x for p in given for x in ("--provider", p)]
        r = CliRunner().invoke(cli, args, env={"DEAD_RPC": f"http://127.0.0.1:{free_port()}"})
        assert r.exit_code == 1, r.output
        assert f"--provider {Web3.to_checksum_address(a)} is given twice" in r.stderr, r.output
        assert "devnet" not in r.stderr and "RPC" not in r.stderr, r.output  # refused before any read
        assert not out.exists()
