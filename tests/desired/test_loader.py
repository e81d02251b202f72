"""Loading a valid desired state: defaults, derived ids, exact cost-model prices, merging, warnings."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import pytest

from reconciler.desired.diagnostics import Severity, ValidationFailed
from reconciler.desired.fleet import is_fleet, load_fleet
from reconciler.desired.loader import load_desired
from reconciler.desired.model import Endpoint
from reconciler.desired.references import Reference, fingerprint, parse_reference, resolve
from reconciler.market import ids
from reconciler.market.pricing import bid_price, price_from_cost
from tests.support.hostile_text import inert

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
MINIMAL = (CORPUS / "good" / "minimal.yaml").read_text()
ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "state.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_minimal_defaults_and_ids() -> None:
    d, warnings = load_desired(CORPUS / "good" / "minimal.yaml")
    assert warnings == []
    assert d.provider.stake == 2 * 10**17
    assert d.policy.churn.min_price_change_percent == 5
    assert d.policy.churn.min_repost_interval_seconds == 3600
    assert d.policy.prune is False and d.policy.allow_empty is False
    m = d.models[0]
    assert m.managed and m.tags == ("llm",) and m.endpoint is Endpoint.CHAT
    assert m.base_model_id == ids.base_model_id_for_name("llama-3.3-70b")
    assert m.model_id == ids.model_id(d.provider.address, m.base_model_id)
    assert m.bid is not None and m.bid.price_per_second == 6 * 10**15
    assert d.upstreams[0].api_key == Reference("env", "VENICE_API_KEY")
    assert not d.delegate_mode


def test_model_id_matches_solidity_packing() -> None:
    # keccak256(abi.encodePacked(address, bytes32)) computed independently
    from eth_abi.packed import encode_packed
    from eth_utils import keccak

    owner = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
    base = "0x" + "11" * 32
    expected = "0x" + keccak(encode_packed(["address", "bytes32"], [owner, bytes.fromhex("11" * 32)])).hex()
    assert ids.model_id(owner, base) == expected


def test_base_model_id_is_deterministic() -> None:
    assert ids.base_model_id_for_name("a") == ids.base_model_id_for_name("a")
    assert ids.base_model_id_for_name("a") != ids.base_model_id_for_name("b")


def test_cost_model_rounds_up_to_whole_wei(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        '    bid:\n      pricePerSecond: "0.006 MOR"\n',
        "    bid:\n      costModel:\n        subscription: {usdPerMonth: 10, utilizedSecondsPerMonth: 3}\n"
        "        morUsd: 3\n        margin: 0.1\n",
        1,
    )
    d, _ = load_desired(write(tmp_path, text))
    bid = d.models[0].bid
    assert bid is not None and bid.cost_model is not None
    # 10/3 USD/s * 1.1 / 3 USD/MOR = 11/9 MOR/s = 1.2222... MOR/s -> rounded up
    assert bid_price(bid, None) == 1222222222222222223
    assert price_from_cost(Fraction(1, 3), Fraction(1), Fraction(0)) == 333333333333333334


def test_per_token_cost_model_and_mor_usd_reference(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        '    bid:\n      pricePerSecond: "0.006 MOR"\n',
        "    bid:\n      costModel:\n        perToken:\n          tokensPerSecond: 50\n"
        '          inputUsdPerToken: "0.0000005"\n          outputUsdPerToken: "0.0000015"\n'
        "        morUsd: env:MOR_USD\n",
        1,
    )
    d, _ = load_desired(write(tmp_path, text))
    bid = d.models[0].bid
    assert bid is not None and bid.cost_model is not None
    assert bid.cost_model.mor_usd == Reference("env", "MOR_USD")
    assert bid_price(bid, None) is None
    # 50 * (0.3*5e-7 + 0.7*1.5e-6) = 6e-5 USD/s at 2 USD/MOR = 3e-5 MOR/s
    assert bid_price(bid, Fraction(2)) == 3 * 10**13


def test_directory_merges_models_and_upstreams(tmp_path: Path) -> None:
    head, models = MINIMAL.split("models:\n")
    models_part, rest = models.split("proxy:\n")
    write(tmp_path, head + "proxy:\n" + rest, "00-base.yaml")
    write(tmp_path, "models:\n" + models_part, "10-models.yaml")
    write(tmp_path, "# notes only\n", "README.md")
    d, _ = load_desired(tmp_path)
    assert [m.key for m in d.models] == ["llama-3.3-70b", "qwen-coder"]
    assert d.models[0].location.file.endswith("10-models.yaml")
    assert d.models[0].location.line == 2


def test_all_errors_at_once(tmp_path: Path) -> None:
    text = MINIMAL.replace("    resaleAllowed: true\n", "    resaleAllowed: false\n").replace(
        "    concurrentSlots: 2\n", "    concurrentSlots: 0\n", 1
    )
    text = text.replace(
        "  endpoint: provider.example.com:3333\n", "  endpoint: provider.example.com:3333\n  color: red\n"
    )
    with pytest.raises(ValidationFailed) as exc:
        load_desired(write(tmp_path, text))
    # the schema error (unknown field) stops semantic checks; fix it and the semantic errors all appear
    assert any("unknown field 'color'" in str(d) for d in exc.value.diagnostics)
    text = text.replace("  color: red\n", "")
    with pytest.raises(ValidationFailed) as exc:
        load_desired(write(tmp_path, text))
    messages = [str(d) for d in exc.value.diagnostics if d.severity is Severity.ERROR]
    assert len(messages) == 2
    assert any("resaleAllowed" in m for m in messages) and any("unlimited" in m for m in messages)


def test_misleading_tag_is_a_warning(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "    upstreamModel: llama-3.3-70b\n",
        "    upstreamModel: tts-1\n    endpoint: audio-speech\n    tags: [speech]\n",
    )
    _, warnings = load_desired(write(tmp_path, text))
    assert len(warnings) == 1
    assert "speech" in warnings[0].message and "tts" in warnings[0].message
    assert warnings[0].severity is Severity.WARNING and warnings[0].location.line == 22


def test_references(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("s3cret\n")
    ref = parse_reference("file:key", tmp_path)
    assert resolve(ref) == "s3cret"
    assert resolve(Reference("env", "NOPE_NOT_SET"), {}) is None
    assert resolve(Reference("env", "K"), {"K": "v"}) == "v"
    assert fingerprint("s3cret") == "1ec1c26b50d5"  # sha256("s3cret")[:12]


def test_examples_validate() -> None:
    """Every shipped example loads with no error and no warning, and declares models (three ship with the project)."""
    paths = sorted((ROOT / "examples" / "desired-state").glob("*.yaml"))
    assert {p.name for p in paths} >= {"devnet.yaml", "venice-resale.yaml", "openai-anthropic.yaml"}
    quickstart = ROOT / "examples" / "desired-state" / "quickstart.yaml"
    with pytest.raises(ValidationFailed) as refused:  # the README's copy: invalid until its addresses are set
        load_desired(quickstart)
    assert {d.path for d in refused.value.diagnostics} == {"signer.address", "provider.address"}
    for path in (p for p in paths if p != quickstart):
        desired, warnings = load_desired(path)
        assert warnings == [], (path.name, [str(w) for w in warnings])
        assert desired.models, path.name
    fleets = [p for p in (ROOT / "examples" / "desired-state").iterdir() if is_fleet(p)]
    assert [p.name for p in fleets] == ["fleet"]  # a fleet (issue 30): every provider valid, no warning
    for member in load_fleet(fleets[0]).members:
        assert member.warnings == (), (member.name, [str(w) for w in member.warnings])
        assert member.desired.models, member.name


@pytest.mark.parametrize(
    "endpoint",
    ["provider.example.com:99999", "provider.example.com:0", "provider.example.com:00000", "a" * 300 + ".example:3333"],
)
def test_a_provider_endpoint_buyers_cannot_dial_is_an_error(tmp_path: Path, endpoint: str) -> None:
    """It goes on chain as is: a port past 65535 or a host name longer than DNS allows would be paid for in gas
    and then fail every buyer."""
    text = MINIMAL.replace("  endpoint: provider.example.com:3333\n", f"  endpoint: {endpoint}\n")
    with pytest.raises(ValidationFailed) as exc:
        load_desired(write(tmp_path, text))
    assert [d.path for d in exc.value.diagnostics] == ["provider.endpoint"]


def test_a_very_long_value_is_not_echoed_whole(tmp_path: Path) -> None:
    text = MINIMAL.replace("  - name: llama-3.3-70b\n", "  - name: " + "x" * 5000 + "\n")
    with pytest.raises(ValidationFailed) as exc:
        load_desired(write(tmp_path, text))
    (d,) = exc.value.diagnostics
    assert "too long" in str(d) and len(str(d)) < 300 and "5000 characters" in str(d)


def test_a_file_reference_to_something_that_is_not_a_file_has_no_value(tmp_path: Path) -> None:
    """A fifo would block the command forever and /dev/zero would never end: only a regular file is read."""
    fifo = tmp_path / "key.fifo"
    os.mkfifo(fifo)
    assert resolve(Reference("file", str(fifo))) is None
    assert resolve(Reference("file", "/dev/zero")) is None
    assert resolve(Reference("file", str(tmp_path))) is None


@pytest.mark.parametrize(
    ("old", "new", "path", "line"),
    [
        ("  - name: llama-3.3-70b\n", '  - name: "llama\\e[2J"\n', "models[0].name", 18),
        ("  - name: llama-3.3-70b\n", '  - name: "llama\\u202Egnp"\n', "models[0].name", 18),
        ("    upstreamModel: llama-3.3-70b\n", '    upstreamModel: "x\\e]0;pwned\\a"\n', "models[0].upstreamModel", 20),
        ("    concurrentSlots: 2\n", '    concurrentSlots: 2\n    tags: [llm, "a\\x9b2J"]\n', "models[0].tags[1]", 23),
        (
            "    concurrentSlots: 2\n",
            '    concurrentSlots: 2\n    parameters: {temp: "0.2\\r"}\n',
            "models[0].parameters.temp",
            23,
        ),
        (
            "    concurrentSlots: 2\n",
            '    concurrentSlots: 2\n    parameters: {"t\\u2066": "1"}\n',
            "models[0].parameters",
            23,
        ),
    ],
)
def test_control_and_bidi_characters_in_own_strings_are_refused(
    tmp_path: Path, old: str, new: str, path: str, line: int
) -> None:
    with pytest.raises(ValidationFailed) as exc:
        load_desired(write(tmp_path, MINIMAL.replace(old, new, 1)))
    (d,) = exc.value.diagnostics
    assert d.path == path and d.location.line == line, str(d)
    assert "control or bidi" in d.message and inert(str(d)), str(d)


def test_a_name_ending_in_a_newline_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationFailed) as exc:
        load_desired(write(tmp_path, MINIMAL.replace("  - name: llama-3.3-70b\n", '  - name: "llama\\n"\n', 1)))
    (d,) = exc.value.diagnostics
    assert d.path == "models[0].name" and "control or bidi" in d.message
