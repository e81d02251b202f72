"""A fleet folder from a pull request is written by someone who is not the operator (issue 30, hostile inputs): its
fleet.yaml, shared files and provider folders are refused, with a diagnostic at the place, when they reach outside
the fleet (`..`, a symlinked folder or file), name too many providers or the same folder twice, carry a control
character in a provider's name, or are larger than any desired state is. Pure: files in temporary folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.desired import fleet
from reconciler.desired.diagnostics import ValidationFailed
from reconciler.desired.fleet import load_fleet
from tests.desired.test_fleet import ENV, three


def _refusals(root: Path) -> list[str]:
    with pytest.raises(ValidationFailed) as refused:
        load_fleet(root, ENV)
    return [str(d) for d in refused.value.diagnostics]


def test_a_folder_or_file_reaching_outside_the_fleet_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("GITHUB_TOKEN: ghp_not_a_real_one\n")
    root = three(tmp_path / "up")  # `..` in a folder
    (root / "fleet.yaml").write_text("providers:\n  - name: alpha\n  - name: beta\n    folder: beta/../../outside\n")
    [shown] = _refusals(root)
    assert "inside the fleet" in shown and "ghp_" not in shown

    root = three(tmp_path / "linked")  # a provider's folder that is a symlink out
    (root / "beta" / "provider.yaml").rename(outside / "provider.yaml")
    (root / "beta").rmdir()
    (root / "beta").symlink_to(outside, target_is_directory=True)
    shown = _refusals(root)
    assert any("beta" in s and "inside the fleet" in s for s in shown), shown
    assert not any("ghp_" in s or "GITHUB_TOKEN" in s for s in shown), shown


def test_a_shared_or_provider_file_symlinked_out_of_the_fleet_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("GITHUB_TOKEN: ghp_not_a_real_one\n")
    for link in ("more.yaml", "alpha/more.yaml"):  # a shared file, a provider's file
        root = three(tmp_path / link.replace("/", "-"))
        (root / link).symlink_to(outside / "secret.yaml")
        shown = _refusals(root)
        assert len(shown) == 1 and shown[0].startswith(f"{root / link}: "), shown
        assert "outside the fleet" in shown[0] and "ghp_" not in shown[0] and "GITHUB_TOKEN" not in shown[0]


def test_a_provider_name_folder_or_status_url_with_a_control_character_is_refused(tmp_path: Path) -> None:
    cases = [('"alpha\\n"', None), ("alpha", '"alpha\\n"'), ('"alpha\\u202e"', None), ("al/pha", None)]
    for name, folder in cases:
        root = three(tmp_path / f"t{len(list(tmp_path.iterdir()))}")
        entry = f"  - name: {name}\n" + (f"    folder: {folder}\n" if folder else "")
        (root / "fleet.yaml").write_text("providers:\n" + entry)
        shown = _refusals(root)
        assert len(shown) == 1 and f"{root / 'fleet.yaml'}:" in shown[0] and ": providers[0]." in shown[0], shown
        assert "\n" not in shown[0] and "\u202e" not in shown[0], shown
    for url in ('"https://a.example/\\n"', '"https://a.example/\\u202egnp.exe"'):  # a link the pages show
        root = three(tmp_path / f"t{len(list(tmp_path.iterdir()))}")
        (root / "fleet.yaml").write_text(f"providers:\n  - name: alpha\n    statusUrl: {url}\n")
        [shown] = _refusals(root)
        assert ": providers[0].statusUrl: " in shown and "\u202e" not in shown, shown


def test_thousands_of_providers_are_refused_before_any_folder_is_read(tmp_path: Path) -> None:
    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "fleet.schema.json").read_text())
    assert schema["properties"]["providers"]["maxItems"] == fleet.MAX_PROVIDERS
    root = three(tmp_path / "many")
    names = "".join(f"  - name: p{i}\n" for i in range(fleet.MAX_PROVIDERS + 1))
    (root / "fleet.yaml").write_text("providers:\n" + names)
    [shown] = _refusals(root)
    assert shown.startswith(f"{root / 'fleet.yaml'}:") and f"{fleet.MAX_PROVIDERS}" in shown, shown


def test_the_same_folder_twice_is_refused(tmp_path: Path) -> None:
    root = three(tmp_path / "twice")
    (root / "fleet.yaml").write_text("providers:\n  - name: alpha\n  - name: beta\n    folder: ./alpha\n")
    shown = _refusals(root)
    assert any("also provider 'alpha'" in s for s in shown), shown


def test_a_huge_shared_file_or_fleet_file_is_refused_unread(tmp_path: Path) -> None:
    root = three(tmp_path / "huge")
    with (root / "big.yaml").open("w") as f:
        f.write("# " + "x" * fleet.MAX_FLEET_FILE_BYTES + "\n")
    [shown] = _refusals(root)
    assert shown.startswith(f"{root / 'big.yaml'}") and "larger than" in shown, shown

    root = three(tmp_path / "huge-fleet")
    with (root / "fleet.yaml").open("a") as f:
        f.write("# " + "x" * fleet.MAX_FLEET_FILE_BYTES + "\n")
    [shown] = _refusals(root)
    assert shown.startswith(f"{root / 'fleet.yaml'}") and "larger than" in shown, shown


def test_a_fleet_plan_that_cannot_read_its_network_never_prints_the_rpc_url_or_a_secret(tmp_path: Path) -> None:
    """Each network's RPC URL is a secret reference (it often holds an API key): a fleet plan whose node refuses
    the connection says which reference failed, in text and in the pull request's Markdown, never the URL."""
    from reconciler.pipeline import plan_fleet
    from reconciler.render.markdown import render_fleet_markdown
    from reconciler.render.text import render_fleet_text
    from tests.support.ports import free_port

    env = dict(ENV, RPC_URL=f"http://user:pw-secret@127.0.0.1:{free_port()}/v2/sk-live-secret?key=q-secret")
    members = load_fleet(three(tmp_path / "fleet"), env).members
    planned = plan_fleet([(m.name, m.desired) for m in members], env, state_dir=None)
    shown = render_fleet_text(planned) + render_fleet_markdown(planned)
    assert len(planned.failed) == 3 and "env:RPC_URL" in shown
    assert "secret" not in shown and "127.0.0.1" not in shown
    for value in env.values():
        assert value not in shown


def test_a_file_name_with_a_control_character_is_shown_escaped_on_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from reconciler.cli import cli

    root = three(tmp_path / "fleet")
    (root / "x\n✓ all 3 providers valid\x1b[2K.yaml").write_text("nonsense: 1\n")
    (root / "alpha" / "y\u202e.yaml").write_text("nonsense: 1\n")
    out = CliRunner().invoke(cli, ["validate", str(root)], env=ENV).output
    assert not any(line.startswith("✓") for line in out.splitlines()), out
    assert "\u202e" not in out and "\x1b" not in out, out
    assert "x\\n✓ all 3 providers valid\\x1b[2K.yaml:1: nonsense: " in out, out


def test_a_value_yaml_cannot_construct_is_a_diagnostic_at_its_line(tmp_path: Path) -> None:
    for value in ("9" * 5000, "2024-13-45"):
        root = three(tmp_path / f"t{len(list(tmp_path.iterdir()))}")
        (root / "zz.yaml").write_text(f"policy:\n  maxSpendPerApply: {value}\n")
        shown = _refusals(root)  # (and "policy is defined twice": the shared file has one)
        at = [s for s in shown if s.startswith(f"{root / 'zz.yaml'}:2: policy.maxSpendPerApply: ")]
        assert len(at) == 1 and len(at[0]) < 300, shown


def test_slots_past_what_a_forwarder_can_count_are_refused(tmp_path: Path) -> None:
    """`auto` hands an upstream's whole maxConcurrency to its models: a 4000-digit limit would reach every host's
    models-config, which the proxy-router (Go ints) cannot read."""
    root = three(tmp_path / "huge")
    shared = (root / "shared.yaml").read_text()
    (root / "shared.yaml").write_text(shared.replace("maxConcurrency: 10", "maxConcurrency: " + "9" * 4000))
    [shown] = _refusals(root)
    assert ": upstreams.venice.maxConcurrency: " in shown and "maximum of 1000000" in shown and len(shown) < 300, shown
    root = three(tmp_path / "slots")
    beta = (root / "beta" / "provider.yaml").read_text()
    (root / "beta" / "provider.yaml").write_text(
        beta.replace("  - use: llama\n", "  - use: llama\n    concurrentSlots: 10000001\n")
    )
    shown = _refusals(root)
    assert any(".concurrentSlots: " in s and "maximum of 1000000" in s for s in shown), shown


def test_a_fleet_of_too_many_files_or_bytes_in_all_is_refused_unread(tmp_path: Path) -> None:
    """Each file under MAX_FLEET_FILE_BYTES and each provider under the cap still adds up (100 providers of many
    1 MiB files): the whole fleet's files and bytes are counted first, and past either bound nothing is read."""
    root = three(tmp_path / "files")
    for i in range(fleet.MAX_FLEET_FILES):  # tiny files, each one that would be reported if it were read
        (root / "beta" / f"n{i:04}.yaml").write_text("nonsense: 1\n")
    [shown] = _refusals(root)
    assert shown.startswith(f"{root}: ") and f"at most {fleet.MAX_FLEET_FILES} files" in shown, shown
    assert "nonsense" not in shown and len(shown) < 300, shown

    root = three(tmp_path / "bytes")
    chunk = "# " + "x" * (fleet.MAX_FLEET_FILE_BYTES - 3) + "\n"  # each file just under the one-file bound
    for i in range(fleet.MAX_FLEET_BYTES // fleet.MAX_FLEET_FILE_BYTES + 1):
        member = ("alpha", "beta", "gamma")[i % 3]
        (root / member / f"big{i:02}.yaml").write_text(chunk + "nonsense: 1\n")
    [shown] = _refusals(root)
    assert shown.startswith(f"{root}: ") and f"at most {fleet.MAX_FLEET_BYTES} bytes" in shown, shown
    assert "nonsense" not in shown and len(shown) < 300, shown


def test_a_slot_weight_past_the_slot_bound_is_refused(tmp_path: Path) -> None:
    """slotWeight is capped as concurrentSlots and maxConcurrency are (1,000,000): on a shared definition, on a
    `use`, and on a provider's own model."""
    schema = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "fleet-shared.schema.json").read_text())
    assert schema["$defs"]["slotWeight"]["maximum"] == 1000000
    root = three(tmp_path / "definition")
    shared = (root / "shared.yaml").read_text()
    (root / "shared.yaml").write_text(
        shared.replace("    concurrentSlots: auto\n", "    concurrentSlots: auto\n    slotWeight: 1000001\n", 1)
    )
    [shown] = _refusals(root)
    assert ": modelDefinitions.llama.slotWeight: " in shown and "maximum of 1000000" in shown, shown

    root = three(tmp_path / "use")
    alpha = (root / "alpha" / "provider.yaml").read_text()
    (root / "alpha" / "provider.yaml").write_text(alpha.replace("slotWeight: 2", "slotWeight: " + "9" * 4000))
    shown = _refusals(root)
    assert any(": models[0].slotWeight: " in s and "maximum of 1000000" in s and len(s) < 300 for s in shown), shown

    root = three(tmp_path / "own")
    own = (
        "  - name: own-llama\n    upstream: venice\n    upstreamModel: llama-3.3-70b\n    stake: '0.1 MOR'\n"
        "    concurrentSlots: auto\n    slotWeight: 1000001\n    bid: {pricePerSecond: '0.006 MOR'}\n"
    )
    (root / "beta" / "provider.yaml").write_text((root / "beta" / "provider.yaml").read_text() + own)
    shown = _refusals(root)
    assert any(": models[1].slotWeight: " in s and "1000000" in s for s in shown), shown
