"""A fleet: several providers declared in one folder (issue 30, rows 1 and 2): the layout and its merge rules, the
upstream account's slots shared across hosts (`concurrentSlots: auto`), and the secret-role rule over the fleet.

Pure: files in temporary folders, no network.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.desired.diagnostics import Severity, ValidationFailed
from reconciler.desired.loader import load_desired

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "desired-state" / "fleet"

# anvil accounts 1..3: one provider each, its own signer
PROVIDERS = {
    "alpha": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "beta": "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "gamma": "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
}
ENV = {
    "RPC_URL": "https://rpc.example.net/v2/rpc-key",
    "SIGNER_ALPHA": "0x" + "11" * 32,
    "SIGNER_BETA": "0x" + "22" * 32,
    "SIGNER_GAMMA": "0x" + "33" * 32,
    "VENICE_API_KEY": "venice-key",
    "ADMIN_TOKEN": "admin-token",
}

SHARED = """\
upstreams:
  venice:
    baseUrl: https://api.venice.ai/api/v1
    apiKey: env:VENICE_API_KEY
    maxConcurrency: {limit}
    resaleAllowed: true
modelDefinitions:
  llama:
    upstream: venice
    upstreamModel: llama-3.3-70b
    stake: "0.1 MOR"
    concurrentSlots: auto
    bid:
      pricePerSecond: "0.006 MOR"
  qwen:
    upstream: venice
    upstreamModel: qwen-2.5-coder-32b
    stake: "0.1 MOR"
    concurrentSlots: 1
    bid:
      pricePerSecond: "0.007 MOR"
policy:
  maxSpendPerApply: "2 MOR"
"""


def provider_yaml(name: str, models: str, admin_token: str = "env:ADMIN_TOKEN") -> str:
    address = PROVIDERS[name]
    return f"""\
network:
  preset: base-sepolia
  rpcUrl: env:RPC_URL
signer:
  address: "{address}"
  privateKey: env:SIGNER_{name.upper()}
provider:
  address: "{address}"
  endpoint: {name}.example.com:3333
  stake: "0.2 MOR"
proxy:
  modelsConfigPath: /tmp/never-written/{name}.json
  adminUrl: http://127.0.0.1:8091
  adminToken: {admin_token}
models:
{textwrap.indent(textwrap.dedent(models).strip(), "  ")}
"""


def make_fleet(root: Path, members: dict[str, str], limit: int = 10, shared: str | None = None) -> Path:
    """A fleet folder: fleet.yaml naming `members` in order, the shared file, one folder per provider."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "fleet.yaml").write_text("providers:\n" + "".join(f"  - name: {n}\n" for n in members))
    (root / "shared.yaml").write_text((shared or SHARED).format(limit=limit))
    for name, text in members.items():
        (root / name).mkdir(exist_ok=True)
        (root / name / "provider.yaml").write_text(text)
    return root


def three(root: Path, limit: int = 10) -> Path:
    return make_fleet(
        root,
        {
            "alpha": provider_yaml("alpha", "- use: llama\n  slotWeight: 2\n- use: qwen\n"),
            "beta": provider_yaml("beta", "- use: llama\n"),
            "gamma": provider_yaml("gamma", "- use: llama\n  bid: {pricePerSecond: '0.008 MOR'}\n"),
        },
        limit,
    )


def slots(fleet: object) -> dict[tuple[str, str], int | None]:
    return {
        (member.name, m.key): m.concurrent_slots
        for member in fleet.members  # type: ignore[attr-defined]
        for m in member.desired.models
    }


def test_largest_remainder_with_literal_slots() -> None:
    """One slot each first, the rest by weight in whole slots, the largest remainders first; a tie goes to the
    larger weight, then to the earlier model (fleet.yaml's order of providers, then the files' order)."""
    from reconciler.desired.slotshare import share_slots

    assert share_slots(10, [3, 1]) == (7, 3)  # 1+1, then 8 as 6 and 2
    assert share_slots(7, [1, 1, 1]) == (3, 2, 2)  # 1 each, then 4 as 1.33 each: the first gets the odd one
    assert share_slots(8, [2, 1, 1]) == (4, 2, 2)  # 1 each, then 5 as 2.5, 1.25, 1.25
    assert share_slots(9, [1, 2, 2]) == (2, 4, 3)  # 1 each, then 6 as 1.2, 2.4, 2.4: a tie between equals
    assert share_slots(3, [100, 1, 1]) == (1, 1, 1)  # at least 1 each, whatever the weights
    assert share_slots(5, [1]) == (5,)
    with pytest.raises(ValueError, match="3 models but only 2 slots"):
        share_slots(2, [1, 1, 1])


def test_a_fleet_loads_with_shared_files_merged_and_auto_resolved(tmp_path: Path) -> None:
    from reconciler.desired.fleet import FLEET_FILE, is_fleet, load_fleet

    root = three(tmp_path / "fleet")
    assert FLEET_FILE == "fleet.yaml" and is_fleet(root) and not is_fleet(root / "alpha")
    fleet = load_fleet(root, ENV)
    assert fleet.names() == ("alpha", "beta", "gamma")
    # 10 slots of venice: qwen holds 1, llama (auto) shares 9 by weight 2:1:1 -> 1 each, then 6 as 3, 1.5, 1.5
    assert slots(fleet) == {
        ("alpha", "llama"): 4,
        ("alpha", "qwen"): 1,
        ("beta", "llama"): 3,
        ("gamma", "llama"): 2,
    }
    alpha, beta, gamma = fleet.members
    assert alpha.folder == root / "alpha" and alpha.warnings == ()
    assert beta.desired.provider.address == PROVIDERS["beta"]
    assert beta.desired.upstreams[0].name == "venice" and beta.desired.upstreams[0].max_concurrency == 10
    assert beta.desired.policy.max_spend_per_apply == 2 * 10**18
    assert [m.bid.price_per_second for m in gamma.desired.models if m.bid] == [8 * 10**15]  # overridden
    assert [m.bid.price_per_second for m in beta.desired.models if m.bid] == [6 * 10**15]  # shared
    assert str(root / "shared.yaml") in beta.desired.sources
    assert str(root / "beta" / "provider.yaml") in beta.desired.sources
    assert str(root / "fleet.yaml") in beta.desired.sources  # a watcher reloads when the fleet changes
    assert fleet.member("beta") is beta
    assert fleet.select(["gamma", "alpha"]).names() == ("alpha", "gamma")
    assert fleet.select([]).names() == fleet.names()
    with pytest.raises(ValidationFailed, match="1 error") as unknown:
        fleet.select(["delta"])
    assert "alpha, beta, gamma" in str(unknown.value.diagnostics[0])


def test_slots_over_an_upstream_across_providers_are_refused_naming_models_providers_and_sum(tmp_path: Path) -> None:
    """Each host alone is within the account's limit; together they promise more than it supports."""
    from reconciler.desired.fleet import load_fleet

    member = "- use: qwen\n  concurrentSlots: 3\n"
    root = make_fleet(tmp_path / "fleet", {n: provider_yaml(n, member) for n in PROVIDERS}, limit=8)
    with pytest.raises(ValidationFailed) as refused:
        load_fleet(root, ENV)
    errors = [d for d in refused.value.diagnostics if d.severity is Severity.ERROR]
    assert len(errors) == 1
    text = str(errors[0])
    assert text.startswith(f"{root / 'shared.yaml'}:5: upstreams.venice.maxConcurrency: ")
    for name in PROVIDERS:
        assert f"{name}/qwen (3)" in text
    assert "9" in text and "maxConcurrency 8" in text


def test_auto_is_refused_when_more_models_than_slots(tmp_path: Path) -> None:
    from reconciler.desired.fleet import load_fleet

    root = make_fleet(tmp_path / "fleet", {n: provider_yaml(n, "- use: llama\n") for n in PROVIDERS}, limit=2)
    with pytest.raises(ValidationFailed) as refused:
        load_fleet(root, ENV)
    text = "\n".join(str(d) for d in refused.value.diagnostics)
    assert "upstreams.venice.maxConcurrency" in text and "3 models" in text and "2 slots" in text


def test_overrides_and_their_errors_name_the_provider_file(tmp_path: Path) -> None:
    from reconciler.desired.fleet import load_fleet

    models = """\
    - use: qwen
      tags: [llm, coder]
      concurrentSlots: 2
    - use: llama
      upstreamModel: something-else
    - use: mistral
    """
    root = make_fleet(tmp_path / "fleet", {"alpha": provider_yaml("alpha", models)})
    with pytest.raises(ValidationFailed) as refused:
        load_fleet(root, ENV)
    shown = sorted(str(d) for d in refused.value.diagnostics)
    where = root / "alpha" / "provider.yaml"
    assert any(s.startswith(f"{where}:20: models[1].upstreamModel: ") and "cannot override" in s for s in shown)
    assert any(s.startswith(f"{where}:21: models[2].use: ") and "llama, qwen" in s for s in shown), shown
    fixed = models.replace("      upstreamModel: something-else\n", "").replace("    - use: mistral\n", "")
    (root / "alpha" / "provider.yaml").write_text(provider_yaml("alpha", fixed))
    alpha = load_fleet(root, ENV).member("alpha")
    qwen = next(m for m in alpha.desired.models if m.key == "qwen")
    assert qwen.tags == ("llm", "coder") and qwen.concurrent_slots == 2 and qwen.upstream_model == "qwen-2.5-coder-32b"


def test_a_fleet_folder_is_refused_by_load_desired_and_a_plain_folder_is_not_a_fleet(tmp_path: Path) -> None:
    from reconciler.desired.fleet import is_fleet

    root = three(tmp_path / "fleet")
    with pytest.raises(ValidationFailed) as refused:
        load_desired(root, ENV)
    [d] = refused.value.diagnostics
    assert "fleet" in d.message and "--provider NAME" in d.message and "alpha, beta, gamma" in d.message
    for alone in (root / "beta", root / "beta" / "provider.yaml"):  # a provider's folder lacks the shared files
        with pytest.raises(ValidationFailed) as refused:
            load_desired(alone, ENV)
        [d] = refused.value.diagnostics
        assert (
            d.message
            == f"{alone} is provider 'beta' of the fleet at {root}: give the fleet's folder and --provider beta"
        )
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "state.yaml").write_text((ROOT / "tests" / "corpus" / "good" / "minimal.yaml").read_text())
    (plain / "sub").mkdir()
    (plain / "sub" / "other.yaml").write_text("network: {}\n")
    assert not is_fleet(plain)
    desired, _ = load_desired(plain, {})
    assert len(desired.models) == 2


def test_the_secret_role_rule_holds_across_the_fleet(tmp_path: Path) -> None:
    """One admin token on every host is fine (one role); a value one provider uses as its admin token and another
    as an upstream key is refused, naming both providers' fields and never the value."""
    from reconciler.desired.fleet import load_fleet

    root = three(tmp_path / "fleet")
    load_fleet(root, ENV)  # ADMIN_TOKEN on all three: fine
    (root / "beta" / "provider.yaml").write_text(provider_yaml("beta", "- use: llama\n", "env:BETA_ADMIN"))
    with pytest.raises(ValidationFailed) as refused:
        load_fleet(root, {**ENV, "BETA_ADMIN": ENV["VENICE_API_KEY"]})
    shown = [str(d) for d in refused.value.diagnostics if d.severity is Severity.ERROR]
    assert len(shown) == 1, shown
    assert shown[0].startswith(f"{root / 'beta' / 'provider.yaml'}:14: proxy.adminToken: ")
    assert "beta: proxy.adminToken" in shown[0] and "alpha: upstreams.venice.apiKey" in shown[0]
    assert ENV["VENICE_API_KEY"] not in shown[0]
    # the same RPC URL as another provider's admin token: across providers, across roles
    (root / "beta" / "provider.yaml").write_text(provider_yaml("beta", "- use: llama\n"))
    (root / "gamma" / "provider.yaml").write_text(provider_yaml("gamma", "- use: llama\n", "env:RPC_URL"))
    with pytest.raises(ValidationFailed, match="1 error"):
        load_fleet(root, ENV)


def test_validate_on_a_fleet_prints_every_provider(tmp_path: Path) -> None:
    root = three(tmp_path / "fleet")
    result = CliRunner().invoke(cli, ["validate", str(root)], env=ENV, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"{root}: valid fleet (3 providers")
    assert any(line.strip().startswith("alpha: valid (2 models") for line in lines), lines
    assert any(line.strip().startswith("gamma: valid (1 models") for line in lines), lines


def test_the_example_fleet_validates() -> None:
    from reconciler.desired.fleet import load_fleet

    fleet = load_fleet(EXAMPLE, {})
    assert len(fleet.members) == 3
    presets = [m.desired.network.preset for m in fleet.members]
    assert sorted(presets) == ["base", "base", "base-sepolia"]
    assert all(m.warnings == () for m in fleet.members)
    shared = {u.name for u in fleet.members[0].desired.upstreams}
    assert all({u.name for u in m.desired.upstreams} == shared for m in fleet.members)
    assert all(isinstance(m.concurrent_slots, int) for member in fleet.members for m in member.desired.models)


def test_where_each_problem_is_reported(tmp_path: Path) -> None:
    """A shared definition's field at the shared file's line; a provider's section at the root, a folder outside
    the fleet, a definition in a provider's folder and a redeclared shared upstream at their own lines."""
    from reconciler.desired.fleet import load_fleet

    shared = SHARED.replace(
        "    upstreamModel: llama-3.3-70b\n", "    upstreamModel: llama-3.3-70b\n    tags: [llm, tee]\n"
    )
    root = make_fleet(tmp_path / "fleet", {"alpha": provider_yaml("alpha", "- use: llama\n")}, shared=shared)
    with pytest.raises(ValidationFailed) as refused:
        load_fleet(root, ENV)
    [tee] = [str(d) for d in refused.value.diagnostics if d.severity is Severity.ERROR]
    assert tee.startswith(f"{root / 'shared.yaml'}:11: alpha: models[0].tags: ") and "tee" in tee

    root = three(tmp_path / "second")
    (root / "network.yaml").write_text("network:\n  preset: base\n")
    (root / "fleet.yaml").write_text("providers:\n  - name: alpha\n  - name: beta\n    folder: ../elsewhere\n")
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(ValidationFailed) as refused:
        load_fleet(root, ENV)
    shown = sorted(str(d) for d in refused.value.diagnostics)
    assert len(shown) == 2, shown
    assert shown[0].startswith(f"{root / 'fleet.yaml'}:4: providers[1].folder: ") and "inside the fleet" in shown[0]
    assert shown[1].startswith(f"{root / 'network.yaml'}:1: network: ") and "provider's folder" in shown[1]

    root = three(tmp_path / "third")
    extra = "upstreams:\n  venice:\n    baseUrl: https://x.example\n    resaleAllowed: true\nmodelDefinitions: {}\n"
    (root / "alpha" / "more.yaml").write_text(extra)
    with pytest.raises(ValidationFailed) as refused:
        load_fleet(root, ENV)
    shown = sorted(str(d) for d in refused.value.diagnostics)
    assert len(shown) == 2, shown
    assert shown[0].startswith(f"{root / 'alpha' / 'more.yaml'}:2: upstreams.venice: ") and "shared" in shown[0]
    assert shown[1].startswith(f"{root / 'alpha' / 'more.yaml'}:5: modelDefinitions: ")


def test_policy_is_laid_over_field_by_field_and_a_flag_secret_is_compared_with_every_provider(tmp_path: Path) -> None:
    from reconciler.desired.fleet import load_fleet
    from reconciler.desired.references import Reference
    from reconciler.desired.secrets import flag_uses

    root = three(tmp_path / "fleet")
    beta = provider_yaml("beta", "- use: llama\n") + "policy:\n  bidChurn:\n    minRepostIntervalSeconds: 60\n"
    (root / "beta" / "provider.yaml").write_text(beta)
    fleet = load_fleet(root, ENV)
    policy = fleet.member("beta").desired.policy
    assert policy.max_spend_per_apply == 2 * 10**18 and policy.churn.min_repost_interval_seconds == 60
    assert fleet.member("alpha").desired.policy.churn.min_repost_interval_seconds == 3600
    given = flag_uses(key=Reference("env", "WALLET_KEY"))
    with pytest.raises(ValidationFailed) as refused:
        load_fleet(root, {**ENV, "WALLET_KEY": ENV["ADMIN_TOKEN"]}, given)
    [shown] = [str(d) for d in refused.value.diagnostics]
    assert shown.startswith(f"{root / 'alpha' / 'provider.yaml'}:14: proxy.adminToken: ") and "--key-ref" in shown


def test_auto_shares_what_fixed_slots_leave_and_refuses_an_upstream_without_a_limit(tmp_path: Path) -> None:
    from reconciler.desired.fleet import load_fleet

    members = {
        "alpha": provider_yaml("alpha", "- use: qwen\n  concurrentSlots: 4\n- use: llama\n  slotWeight: 3\n"),
        "beta": provider_yaml("beta", "- use: llama\n"),
    }
    fleet = load_fleet(make_fleet(tmp_path / "fleet", members, limit=10), ENV)
    assert slots(fleet) == {("alpha", "qwen"): 4, ("alpha", "llama"): 4, ("beta", "llama"): 2}  # 6 as 1+3.0, 1+1.0
    no_limit = SHARED.replace("    maxConcurrency: {limit}\n", "")
    root = make_fleet(tmp_path / "second", {"beta": provider_yaml("beta", "- use: llama\n")}, shared=no_limit)
    with pytest.raises(ValidationFailed) as refused:
        load_fleet(root, ENV)
    [shown] = [str(d) for d in refused.value.diagnostics]
    # `auto` was written in the shared definition: reported there
    assert (
        shown.startswith(f"{root / 'shared.yaml'}:11: beta: models[0].concurrentSlots: ") and "declares none" in shown
    )


def test_a_provider_folder_may_be_nested_and_named_apart(tmp_path: Path) -> None:
    from reconciler.desired.fleet import load_fleet

    root = three(tmp_path / "fleet")
    (root / "hosts").mkdir()
    (root / "alpha").rename(root / "hosts" / "alpha-1")
    fleet_yaml = "providers:\n  - name: alpha\n    folder: hosts/alpha-1\n    statusUrl: https://alpha.example.com/\n"
    (root / "fleet.yaml").write_text(fleet_yaml + "  - name: beta\n")
    fleet = load_fleet(root, ENV)
    assert fleet.names() == ("alpha", "beta")
    alpha = fleet.member("alpha")
    assert alpha.folder == root / "hosts" / "alpha-1" and alpha.status_url == "https://alpha.example.com/"
    assert str(root / "fleet.yaml") in alpha.desired.sources
    # gamma's folder is not named: not a provider, not read. 9 slots by weights 2:1 -> 1 each, then 7 as 4.67, 2.33
    assert slots(fleet) == {("alpha", "llama"): 6, ("alpha", "qwen"): 1, ("beta", "llama"): 3}


def test_two_members_on_one_provider_address_of_one_network_are_refused_naming_both(tmp_path: Path) -> None:
    """Two folders, the same wallet, the same network: two writers on one provider would fight (each deleting the
    other's bids as undeclared). `validate` and `plan` refuse it before any network, naming both members; the
    same wallet on another network is another provider, and is fine."""
    from reconciler.desired.fleet import load_fleet

    twin = provider_yaml("alpha", "- use: qwen\n").replace("alpha.example.com", "twin.example.com")
    root = make_fleet(
        tmp_path / "fleet",
        {
            "alpha": provider_yaml("alpha", "- use: llama\n"),
            "beta": provider_yaml("beta", "- use: llama\n"),
            "twin": twin.replace(PROVIDERS["alpha"], PROVIDERS["alpha"].lower()),  # the case does not hide it
        },
    )
    with pytest.raises(ValidationFailed) as refused:
        load_fleet(root, ENV)
    shown = [str(d) for d in refused.value.diagnostics if d.severity is Severity.ERROR]
    assert len(shown) == 1, shown
    assert shown[0].startswith(f"{root / 'twin' / 'provider.yaml'}:8: provider.address: "), shown
    assert "alpha" in shown[0] and "twin" in shown[0] and "base-sepolia" in shown[0]
    for command in (["validate", str(root)], ["plan", str(root)]):
        r = CliRunner().invoke(cli, command, env=ENV)
        assert r.exit_code == 1 and "provider.address" in r.output and "twin" in r.output, r.output
    (root / "twin" / "provider.yaml").write_text(twin.replace("preset: base-sepolia", "preset: base"))
    assert [m.name for m in load_fleet(root, ENV).members] == ["alpha", "beta", "twin"]


def test_a_preset_and_its_chain_written_out_are_one_network_to_the_one_member_rule(tmp_path: Path) -> None:
    """`preset: base` and Base's chain id and marketplace written out are the same network: two members writing
    for one wallet there are refused, as with one preset twice. A known preset's own chain id and marketplace
    are data (no network is read); a devnet's come from its devnet.json, so a devnet is compared by its preset."""
    from reconciler.chain.networks import PRESETS
    from reconciler.desired.fleet import load_fleet

    base = PRESETS["base"]
    spelled = f'  chainId: {base.chain_id}\n  diamond: "{base.diamond.lower()}"\n  mor: "{base.mor}"\n'
    twin = provider_yaml("alpha", "- use: qwen\n").replace("alpha.example.com", "twin.example.com")
    root = make_fleet(
        tmp_path / "fleet",
        {
            "alpha": provider_yaml("alpha", "- use: llama\n").replace("preset: base-sepolia", "preset: base"),
            "beta": provider_yaml("beta", "- use: llama\n"),
            "twin": twin.replace("  preset: base-sepolia\n", spelled),
        },
    )
    with pytest.raises(ValidationFailed) as refused:
        load_fleet(root, ENV)
    shown = [str(d) for d in refused.value.diagnostics if d.severity is Severity.ERROR]
    assert len(shown) == 1, shown
    assert shown[0].startswith(f"{root / 'twin' / 'provider.yaml'}:"), shown
    assert ": provider.address: " in shown[0] and "alpha" in shown[0] and "twin" in shown[0], shown
    assert f"chain {base.chain_id}" in shown[0], shown
    # another marketplace on the same chain, or Base Sepolia's chain id: another provider, fine
    other = PRESETS["base-sepolia"]
    for network in (
        spelled.replace(base.diamond.lower(), other.diamond),
        spelled.replace(str(base.chain_id), str(other.chain_id)).replace(base.diamond.lower(), base.diamond),
    ):
        (root / "twin" / "provider.yaml").write_text(twin.replace("  preset: base-sepolia\n", network))
        assert [m.name for m in load_fleet(root, ENV).members] == ["alpha", "beta", "twin"]
