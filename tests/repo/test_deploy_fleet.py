"""examples/deploy for a fleet (issue 30): one watcher per host, each reconciling its own provider of the same
repository. The systemd template unit `morpheus-reconcile-watch@NAME.service` is the single-provider unit with
`--provider NAME` (and passes `systemd-analyze verify`, as a template and as an instance); `compose.fleet.yaml`
adds one compose profile per host, whose watcher is the single-provider watcher with `--provider NAME`."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import yaml

from tests.repo.test_deploy_examples import DEPLOY, compose, unit_sections
from tests.repo.test_deploy_start import systemd_analyze_verify, verify_root

SINGLE = DEPLOY / "systemd" / "morpheus-reconcile-watch.service"
TEMPLATE = DEPLOY / "systemd" / "morpheus-reconcile-watch@.service"
FLEET_COMPOSE = DEPLOY / "compose.fleet.yaml"
EXAMPLE_FLEET = DEPLOY.parent / "desired-state" / "fleet"  # a profile per provider of the example fleet


def _exec_start(unit: Path) -> list[str]:
    (line,) = [v for k, v in unit_sections(unit)["Service"] if k == "ExecStart"]
    return shlex.split(line)


def _without(argv: list[str], flag: str) -> list[str]:
    at = argv.index(flag)
    return argv[:at] + argv[at + 2 :]


def fleet_compose() -> dict[str, Any]:
    doc = yaml.safe_load(FLEET_COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


def test_the_template_unit_is_the_single_unit_watching_its_instances_provider() -> None:
    argv = _exec_start(TEMPLATE)
    assert argv[argv.index("--provider") + 1] == "%i"
    assert _without(argv, "--provider") == _exec_start(SINGLE)  # the same watcher, for one provider of the fleet
    single, template = unit_sections(SINGLE), unit_sections(TEMPLATE)
    assert ("Conflicts", "morpheus-reconcile-watch.service") in template["Unit"]  # one watcher per host
    same = ("User", "StateDirectory", "LoadCredential", "ProtectHome", "ProtectSystem", "KillSignal", "TimeoutStopSec")
    for key in same:
        assert [v for k, v in template["Service"] if k == key] == [v for k, v in single["Service"] if k == key], key
    assert "morpheus-reconcile-watch@NAME.service" in (DEPLOY / "README.md").read_text()


def test_systemd_analyze_verify_accepts_the_template_and_an_instance(tmp_path: Path) -> None:
    root = verify_root(tmp_path, [TEMPLATE])
    proc = systemd_analyze_verify(root, [TEMPLATE.name, "morpheus-reconcile-watch@base-east.service"])
    assert proc.returncode == 0 and proc.stdout + proc.stderr == "", proc.stdout + proc.stderr


def test_each_compose_profile_runs_the_single_watcher_for_its_own_provider() -> None:
    base = compose()["services"]["watcher"]
    services = fleet_compose()["services"]
    assert services["watcher"] == {"profiles": ["single-provider"]}, "on a fleet host the single watcher stays off"
    hosts = {name: svc for name, svc in services.items() if name != "watcher"}
    example = yaml.safe_load((EXAMPLE_FLEET / "fleet.yaml").read_text())
    assert [svc["profiles"] for svc in hosts.values()] == [[p["name"]] for p in example["providers"]]
    for name, svc in hosts.items():
        (profile,) = svc["profiles"]
        assert name == f"watcher-{profile}"
        argv = svc["command"]
        assert argv[argv.index("--provider") + 1] == profile
        assert _without(argv, "--provider") == base["command"]
        for key in ("image", "secrets", "volumes", "environment", "depends_on", "networks", "stop_grace_period"):
            assert svc[key] == base[key], (name, key)
        assert "ports" not in svc, "only the router's buyer port is published"
