"""network.rpcUrls and network.confirmations: loaded, validated, resolved to labelled endpoints (no node)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.chain.networks import NetworkError, resolve_network
from reconciler.desired.diagnostics import ValidationFailed
from reconciler.desired.loader import load_desired
from reconciler.desired.model import NetworkSpec
from reconciler.desired.references import Reference

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "tests" / "corpus" / "good" / "minimal.yaml"


def _with_network(tmp_path: Path, lines: str) -> Path:
    text = MINIMAL.read_text()
    start = text.index("network:")
    end = text.index("\n", text.index("rpcUrl", start)) + 1 if "rpcUrl" in text[start:] else None
    assert end is not None, "the minimal corpus file names an rpcUrl"
    path = tmp_path / "state.yaml"
    path.write_text(text[:start] + "network:\n" + lines + text[end:])
    return path


def test_rpc_urls_resolve_to_every_endpoint_by_label(tmp_path: Path) -> None:
    path = _with_network(tmp_path, "  preset: base\n  rpcUrls: [env:RPC_A, env:RPC_B]\n  confirmations: 5\n")
    desired, _ = load_desired(path)
    assert desired.network.rpc_urls == (Reference("env", "RPC_A"), Reference("env", "RPC_B"))
    net = resolve_network(desired.network, {"RPC_A": "https://a.example/KEY1", "RPC_B": "https://b.example/KEY2"})
    assert net.endpoints() == [("https://a.example/KEY1", "env:RPC_A"), ("https://b.example/KEY2", "env:RPC_B")]
    assert net.confirmations == 5 and net.rpc_label == "env:RPC_A"
    assert "KEY" not in repr(net)
    with pytest.raises(NetworkError, match=r"network.rpcUrls: the reference env:RPC_B has no value"):
        resolve_network(desired.network, {"RPC_A": "https://a.example/KEY1"})


def test_rpc_url_is_a_list_of_one_and_confirmations_default_per_preset(tmp_path: Path) -> None:
    for preset, want in (("base", 3), ("base-sepolia", 1), ("arbitrum", 3)):
        desired, _ = load_desired(_with_network(tmp_path, f"  preset: {preset}\n  rpcUrl: env:RPC\n"))
        net = resolve_network(desired.network, {"RPC": "https://x.example"})
        assert net.endpoints() == [("https://x.example", "env:RPC")] and net.confirmations == want


def test_rpc_url_and_rpc_urls_together_are_refused(tmp_path: Path) -> None:
    path = _with_network(tmp_path, "  preset: base\n  rpcUrl: env:RPC\n  rpcUrls: [env:RPC_A]\n")
    with pytest.raises(ValidationFailed) as exc:
        load_desired(path)
    assert "rpcUrl or rpcUrls, not both" in str(exc.value) or any("not both" in str(d) for d in exc.value.diagnostics)


@pytest.mark.parametrize(
    "url",
    [
        "https://rpc.example/v2/APIKEY123  ",  # a trailing space pasted with the key
        "https://rpc.example/v2/APIKEY123\r",  # a file saved with CRLF
        "rpc.example/v2/APIKEY123",  # no scheme
        "ftp://rpc.example/APIKEY123",
        "https://",
    ],
)
def test_a_value_that_is_not_an_http_url_names_its_reference_not_the_node(url: str) -> None:
    """It was never sent: saying "the RPC node did not answer" would send the operator to the wrong place."""
    spec = _spec_with_rpc(Reference("env", "RPC_X"))
    with pytest.raises(NetworkError, match=r"network\.rpcUrl: the value of env:RPC_X is not an http\(s\) URL") as exc:
        resolve_network(spec, {"RPC_X": url})
    assert "APIKEY123" not in str(exc.value)


def _spec_with_rpc(ref: Reference) -> NetworkSpec:
    return NetworkSpec(None, 8453, "0x" + "11" * 20, "0x" + "22" * 20, ref)
