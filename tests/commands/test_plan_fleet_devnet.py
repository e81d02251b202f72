"""`reconcile plan` on a fleet folder (issue 30, row 3), on a devnet: three providers (anvil accounts 1-3) in one
folder are planned in one report and one pull-request comment, the exit code over the whole fleet; after each
provider is applied, a price change in a shared model definition plans a repost on every provider selling it and
on no other; `--provider` selects; `--out` saves one provider's plan only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from reconciler.apply.run import ApplyOptions, apply_desired
from reconciler.cli import cli
from reconciler.desired.fleet import load_fleet

SHARED = """\
upstreams:
  stub:
    baseUrl: http://127.0.0.1:9/v1
    apiKey: env:FLEET_UPSTREAM_KEY
    maxConcurrency: 8
    resaleAllowed: true
modelDefinitions:
  llama:
    upstream: stub
    upstreamModel: llama-3.3-70b
    stake: "0.1 MOR"
    concurrentSlots: 2
    bid:
      pricePerSecond: "{price}"
  qwen:
    upstream: stub
    upstreamModel: qwen-2.5
    stake: "0.1 MOR"
    concurrentSlots: 2
    bid:
      pricePerSecond: "0.007 MOR"
policy:
  maxSpendPerApply: "5 MOR"
  bidChurn:
    minPriceChangePercent: 0
    minRepostIntervalSeconds: 0
    reason: a devnet test changes a price and wants it reposted at once
"""
SELLS = {"alpha": ("llama", "qwen"), "beta": ("llama",), "gamma": ("qwen",)}


def _provider(net: dict[str, Any], k: int, name: str, work: Path) -> str:
    address = net["accounts"][k]["address"]
    models = "".join(f"  - use: {m}\n" for m in SELLS[name])
    return (
        f'network:\n  preset: devnet\nsigner:\n  address: "{address}"\n  privateKey: env:KEY_{name.upper()}\n'
        f'provider:\n  address: "{address}"\n  endpoint: {name}.example.com:3333\n  stake: "0.2 MOR"\n'
        f"proxy:\n  modelsConfigPath: {work / f'{name}-forwarder.json'}\nmodels:\n{models}"
    )


def _fleet(net: dict[str, Any], root: Path, price: str = "0.006 MOR") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "fleet.yaml").write_text("providers:\n" + "".join(f"  - name: {n}\n" for n in SELLS))
    (root / "shared.yaml").write_text(SHARED.format(price=price))
    for k, name in enumerate(SELLS, start=1):
        (root / name).mkdir(exist_ok=True)
        (root / name / "provider.yaml").write_text(_provider(net, k, name, root.parent))
    return root


def _env(net: dict[str, Any]) -> dict[str, str]:
    env = {"RECONCILE_DEVNET_DIR": net["dir"], "FLEET_UPSTREAM_KEY": "upstream-key"}
    for k, name in enumerate(SELLS, start=1):
        env[f"KEY_{name.upper()}"] = net["accounts"][k]["privateKey"]
    return env


def _plan(env: dict[str, str], *args: str) -> Result:
    return CliRunner(env=env).invoke(cli, ["plan", *args])


def _section(text: str, name: str) -> str:
    """One provider's part of the text report."""
    start = text.index(f"== provider {name} ")
    rest = text[start + 1 :]
    end = min((rest.index(f"== provider {n} ") for n in SELLS if f"== provider {n} " in rest), default=None)
    end = end if end is not None else rest.index("Fleet: ")
    return rest[:end]


def test_one_plan_for_three_providers_and_a_shared_price_change_reposts_where_sold(
    net: dict[str, Any], tmp_path: Path
) -> None:
    env = _env(net)
    root = _fleet(net, tmp_path / "fleet")
    state = ["--state-dir", str(tmp_path / "state")]

    r = _plan(env, str(root), "--detailed-exitcode", *state)
    assert r.exit_code == 2, r.output
    for k, name in enumerate(SELLS, start=1):
        part = _section(r.stdout, name)
        assert f"provider {net['accounts'][k]['address']}" in part
        assert "+ provider.register" in part and part.count("+ bid.post") == len(SELLS[name])
    assert "Fleet: 3 providers on 1 network" in r.stdout and "devnet: 3 providers;" in r.stdout
    assert r.stdout.rstrip().splitlines()[-1].startswith("Fleet plan: ")
    assert "upstream-key" not in r.output

    md = _plan(env, str(root), "--format", "markdown", *state)
    assert md.exit_code == 0, md.output
    assert md.stdout.startswith("### `reconcile plan`: fleet of 3 providers")
    for name in SELLS:
        assert f"| `{name}` | `devnet` |" in md.stdout and f"#### provider `{name}`: devnet" in md.stdout

    doc = json.loads(_plan(env, str(root), "--format", "json", "--provider", "gamma", *state).stdout)
    assert [p["name"] for p in doc["providers"]] == ["gamma"] and doc["providers"][0]["error"] is None
    one = _plan(env, str(root), "--provider", "beta", "--provider", "alpha", *state)
    assert "== provider alpha" in one.stdout and "== provider beta" in one.stdout and "gamma" not in one.stdout
    unknown = _plan(env, str(root), "--provider", "delta", *state)
    assert unknown.exit_code == 1 and "alpha, beta, gamma" in unknown.output
    refused = _plan(env, str(root), "--out", str(tmp_path / "plan.json"), *state)
    assert refused.exit_code == 1 and "name one with --provider NAME" in refused.stderr
    assert not (tmp_path / "plan.json").exists()
    saved = _plan(env, str(root), "--provider", "beta", "--out", str(tmp_path / "plan.json"), *state)
    assert (
        saved.exit_code == 0
        and json.loads((tmp_path / "plan.json").read_text())["network"]["provider"] == (net["accounts"][2]["address"])
    )

    opts = ApplyOptions(state_dir=tmp_path / "state", confirm=lambda _p: True)
    for member in load_fleet(root, env).members:
        assert apply_desired(member.desired, env, opts).converged, member.name
    r = _plan(env, str(root), "--detailed-exitcode", *state)
    assert r.exit_code == 0, r.output
    assert r.stdout.count("No changes") == 3

    _fleet(net, tmp_path / "fleet", price="0.009 MOR")  # the shared llama definition's price
    r = _plan(env, str(root), "--detailed-exitcode", *state)
    assert r.exit_code == 2, r.output
    for name, sells in SELLS.items():
        part = _section(r.stdout, name)
        reposts = part.count("~ bid.post") + part.count("+ bid.post")
        assert reposts == (1 if "llama" in sells else 0), (name, part)
        if "llama" in sells:
            assert "9000000000000000 wei/s" in part
    md = _plan(env, str(root), "--format", "markdown", *state).stdout
    assert md.count("> - `bid.post`") == 2  # a repost called out for alpha and beta


def test_provider_on_a_single_provider_state_is_refused_before_the_chain_is_read(tmp_path: Path) -> None:
    from tests.support.apply_helpers import EXAMPLE

    env = {"RECONCILE_DEVNET_DIR": str(tmp_path / "no-devnet")}  # nothing to read: the refusal comes first
    r = CliRunner(env=env).invoke(cli, ["plan", str(EXAMPLE), "--provider", "alpha"])
    assert r.exit_code == 1
    assert r.stderr.splitlines() == [
        f"error: --provider: {EXAMPLE} is not a fleet (no fleet.yaml); plan it without --provider"
    ]


def test_the_fleet_plan_json_follows_its_schema(net: dict[str, Any], tmp_path: Path) -> None:
    """`plan --format json` on the fleet above, every provider planned and then one whose network cannot be read
    (its plan null, its error said): both follow schemas/fleet-plan.schema.json, each plan plan.schema.json."""
    import jsonschema
    from referencing import Registry, Resource

    from reconciler.desired.schema import load_schema
    from tests.support.ports import free_port

    schemas = {n: load_schema(n) for n in ("plan.schema.json", "fleet-plan.schema.json")}
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
    validator = jsonschema.Draft202012Validator(schemas["fleet-plan.schema.json"], registry=registry)
    env = {**_env(net), "DEAD_RPC": f"http://127.0.0.1:{free_port()}"}
    root = _fleet(net, tmp_path / "fleet")
    state = ["--state-dir", str(tmp_path / "state")]
    docs = [json.loads(_plan(env, str(root), "--format", "json", *state).stdout)]
    gamma = root / "gamma" / "provider.yaml"
    gamma.write_text(gamma.read_text().replace("preset: devnet\n", "preset: devnet\n  rpcUrl: env:DEAD_RPC\n"))
    broken = _plan(env, str(root), "--format", "json", *state)
    assert broken.exit_code == 1, broken.output
    docs.append(json.loads(broken.stdout))
    for doc in docs:
        validator.validate(doc)
        assert [p["name"] for p in doc["providers"]] == list(SELLS)
    assert docs[0]["providers"][2]["plan"] is not None
    assert docs[1]["providers"][2]["plan"] is None and "env:DEAD_RPC" in docs[1]["providers"][2]["error"]
    bad = {**docs[0], "providers": [{**docs[0]["providers"][0], "plan": {"actions": "none"}}]}
    assert not validator.is_valid(bad)  # the plans are checked, not only the envelope
