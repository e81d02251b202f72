"""Network presets and resolution (devnet.json, references), without any node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.chain.networks import PRESETS, NetworkError, resolve_network
from reconciler.desired.model import NetworkSpec
from reconciler.desired.references import Reference


def test_presets_match_the_reference_table() -> None:
    assert PRESETS["base"].chain_id == 8453 and PRESETS["base"].op_stack
    assert PRESETS["base-sepolia"].diamond == "0xA328196f2438DADA5ab729E39388D86896c27c85"
    assert PRESETS["arbitrum"].legacy and not PRESETS["arbitrum"].op_stack
    assert PRESETS["arbitrum-sepolia"].chain_id == 421614


def test_preset_with_rpc_reference_and_overrides() -> None:
    spec = NetworkSpec("base", None, "0x" + "11" * 20, None, Reference("env", "RPC"))
    net = resolve_network(spec, {"RPC": "https://base.example/v2/SECRETKEY"})
    assert net.chain_id == 8453 and net.diamond == "0x" + "11" * 20 and net.op_stack
    assert "SECRETKEY" not in net.rpc_label
    with pytest.raises(NetworkError) as exc:
        resolve_network(spec, {})
    assert "env:RPC" in str(exc.value)


def test_devnet_reads_devnet_json(tmp_path: Path) -> None:
    info = {"rpcUrl": "http://127.0.0.1:1234", "chainId": 31337, "diamond": "0x" + "aa" * 20, "mor": "0x" + "bb" * 20}
    (tmp_path / "devnet.json").write_text(json.dumps(info))
    net = resolve_network(NetworkSpec("devnet", None, None, None, None), {"RECONCILE_DEVNET_DIR": str(tmp_path)})
    assert net.rpc_url == "http://127.0.0.1:1234" and net.chain_id == 31337 and not net.op_stack
    with pytest.raises(NetworkError) as exc:
        resolve_network(NetworkSpec("devnet", None, None, None, None), {"RECONCILE_DEVNET_DIR": str(tmp_path / "x")})
    assert "reconcile devnet up" in str(exc.value)


GOOD_DEVNET = {
    "rpcUrl": "http://127.0.0.1:8545",
    "chainId": 31337,
    "diamond": "0x" + "11" * 20,
    "mor": "0x" + "22" * 20,
}


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (b"garbage", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[]", "not a JSON object"),
        (b"{}", "chainId"),
        (json.dumps({**GOOD_DEVNET, "chainId": "abc"}).encode(), "chainId"),
        (json.dumps({**GOOD_DEVNET, "chainId": True}).encode(), "chainId"),
        (json.dumps({k: v for k, v in GOOD_DEVNET.items() if k != "diamond"}).encode(), "diamond"),
        (json.dumps({**GOOD_DEVNET, "mor": "0x12"}).encode(), "mor"),
        (json.dumps({**GOOD_DEVNET, "rpcUrl": 12}).encode(), "rpcUrl"),
    ],
)
def test_a_broken_devnet_json_is_named_not_a_crash(tmp_path: Path, content: bytes, named: str) -> None:
    (tmp_path / "devnet.json").write_bytes(content)
    with pytest.raises(NetworkError, match=rf"{tmp_path / 'devnet.json'}.*{named}.*reconcile devnet up") as exc:
        resolve_network(NetworkSpec("devnet", None, None, None, None), {"RECONCILE_DEVNET_DIR": str(tmp_path)})
    assert "127.0.0.1:8545" not in str(exc.value)  # the RPC URL is never printed


def test_a_devnet_elsewhere_names_the_settings_that_point_to_it(tmp_path: Path) -> None:
    with pytest.raises(NetworkError) as exc:
        resolve_network(NetworkSpec("devnet", None, None, None, None), {"RECONCILE_DEVNET_DIR": str(tmp_path / "x")})
    assert "network.devnetDir" in str(exc.value) and "RECONCILE_DEVNET_DIR" in str(exc.value)
