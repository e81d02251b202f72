"""examples/deploy is checked, not just written (no container engine or systemd runs here): every command
line of ours in the Dockerfile, the compose file and the systemd units is accepted by our CLIs (each flag it
uses appears in the `--help` of that very command), only the router's buyer port is published, secrets come
from files, and the desired state the compose watcher expects validates."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "examples" / "deploy"
BIN = Path(sys.executable).parent
OURS = ("morpheus-proxy", "reconcile")


def unit_sections(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit as {section: [(key, value)]}: keys may repeat, `\\` continues a line, # and ; comment."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        assert current is not None, f"{path.name}: a setting outside any section: {line}"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not key=value: {line}"
        current.append((key.strip(), value.strip()))
    return sections


def dockerfile_cmds(path: Path) -> list[list[str]]:
    """CMD / ENTRYPOINT lines in exec (JSON array) form."""
    out = []
    for line in path.read_text().splitlines():
        m = re.match(r"^(CMD|ENTRYPOINT)\s+(.*)$", line.strip())
        if m:
            argv = json.loads(m.group(2))  # exec form only: no shell in between to mangle arguments
            assert isinstance(argv, list) and all(isinstance(a, str) for a in argv)
            out.append(argv)
    return out


def compose(name: str = "compose.yaml") -> dict[str, Any]:
    doc = yaml.safe_load((DEPLOY / name).read_text())
    assert isinstance(doc, dict)
    return doc


def command_lines() -> list[tuple[str, list[str]]]:
    lines: list[tuple[str, list[str]]] = []
    for argv in dockerfile_cmds(DEPLOY / "Dockerfile"):
        lines.append(("Dockerfile:CMD", argv))
    for prefix, doc in (("compose", compose()), ("compose.fleet", compose("compose.fleet.yaml"))):
        for name, svc in doc["services"].items():
            cmd = svc.get("command")
            if cmd is not None:
                lines.append((f"{prefix}:{name}", cmd if isinstance(cmd, list) else shlex.split(cmd)))
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        for key, value in unit_sections(unit)["Service"]:
            if key == "ExecStart":
                lines.append((f"systemd:{unit.name}", shlex.split(value)))
    return [(where, argv) for where, argv in lines if Path(argv[0]).name in OURS]


@cache
def help_text(*command: str) -> tuple[int, str]:
    proc = subprocess.run([str(BIN / command[0]), *command[1:], "--help"], capture_output=True, text=True, timeout=60)
    return proc.returncode, proc.stdout + proc.stderr


LINES = command_lines()


def test_every_file_has_our_command_lines() -> None:
    where = {w for w, _ in LINES}
    assert where == {
        "Dockerfile:CMD",
        "compose:forwarder",
        "compose:watcher",
        "compose.fleet:watcher-base-east",
        "compose.fleet:watcher-base-west",
        "compose.fleet:watcher-sepolia-lab",
        "systemd:morpheus-forwarder.service",
        "systemd:morpheus-reconcile-watch.service",
        "systemd:morpheus-reconcile-watch@.service",
    }


def unknown_flags(argv: list[str]) -> list[str]:
    """The flags of a command line that its command's `--help` does not list (raises on a failing --help)."""
    program = Path(argv[0]).name
    command = (program,) if program == "morpheus-proxy" else (program, argv[1])
    code, text = help_text(*command)
    assert code == 0, text
    flags = [a.split("=", 1)[0] for a in argv if a.startswith("--")]
    return [f for f in flags if not re.search(rf"(?<![\w-]){re.escape(f)}(?![\w-])", text)]


@pytest.mark.parametrize(("where", "argv"), LINES, ids=[w for w, _ in LINES])
def test_command_line_is_accepted_by_our_cli(where: str, argv: list[str]) -> None:
    assert any(a.startswith("--") for a in argv), argv
    assert unknown_flags(argv) == [], where


def test_the_check_catches_a_flag_our_cli_does_not_have() -> None:
    assert unknown_flags(["morpheus-proxy", "--config", "x", "--listen-port", "1", "--admin"]) == [
        "--listen-port",
        "--admin",
    ]
    assert unknown_flags(["reconcile", "plan", "p", "--format", "json", "--auto-approve"]) == ["--auto-approve"]


def test_only_the_routers_buyer_port_is_published() -> None:
    services = compose()["services"]
    published = {name: svc["ports"] for name, svc in services.items() if svc.get("ports")}
    assert published == {"proxy-router": ["3333:3333"]}
    router_env = services["proxy-router"]["environment"]
    assert router_env["PROXY_ADDRESS"].endswith(":3333") and router_env["WEB_ADDRESS"].endswith(":8082")
    assert set(services["forwarder"]["expose"]) == {"8090", "8091"}


def test_the_forwarder_and_router_start_after_their_config_files_exist() -> None:
    services = compose()["services"]
    init = " ".join(services["models-init"]["command"])
    assert "forwarder-models.json" in init and "router-models.json" in init and "test -e" in init
    for name in ("forwarder", "proxy-router"):
        assert services[name]["depends_on"]["models-init"] == {"condition": "service_completed_successfully"}
    volumes = {name: svc.get("volumes", []) for name, svc in services.items()}
    assert "models:/var/lib/morpheus/models" in volumes["models-init"]
    assert "models:/models:ro" in volumes["proxy-router"]


def test_models_init_creates_empty_configs_and_never_overwrites(tmp_path: Path) -> None:
    argv = compose()["services"]["models-init"]["command"]
    script = argv[2].replace("$$", "$").replace("/var/lib/morpheus/models", str(tmp_path))  # as compose passes it
    (tmp_path / "router-models.json").write_text('{"models": [{"kept": true}]}')
    subprocess.run([argv[0], argv[1], script], check=True, timeout=30)
    assert json.loads((tmp_path / "forwarder-models.json").read_text()) == {"models": []}
    assert json.loads((tmp_path / "router-models.json").read_text()) == {"models": [{"kept": True}]}


def test_secrets_come_from_files_never_from_the_yaml() -> None:
    doc = compose()
    assert all(set(s) == {"file"} and s["file"].startswith("./secrets/") for s in doc["secrets"].values())
    for name, svc in doc["services"].items():
        env = svc.get("environment", {})
        assert not any(re.search(r"KEY|TOKEN|PASSWORD|SECRET|COOKIE", k) for k in env), name
        for secret in svc.get("secrets", []):
            assert secret in doc["secrets"]
    assert doc["services"]["proxy-router"]["env_file"] == ["./secrets/proxy-router.env"]
    for unit in (DEPLOY / "systemd").glob("*.service"):
        creds = [v for k, v in unit_sections(unit)["Service"] if k == "LoadCredential"]
        assert creds and all(v.split(":", 1)[1].startswith("/etc/morpheus/secrets/") for v in creds)
    ignored = (DEPLOY / ".gitignore").read_text().split()
    assert "secrets/*" in ignored


def test_the_compose_secrets_match_what_the_commands_and_the_desired_state_read() -> None:
    doc = compose()
    fwd = doc["services"]["forwarder"]
    for flag in ("--client-token-file", "--admin-token-file"):
        path = fwd["command"][fwd["command"].index(flag) + 1]
        assert path.startswith("/run/secrets/") and path.rsplit("/", 1)[1] in fwd["secrets"]
    watcher_secrets = set(doc["services"]["watcher"]["secrets"])
    refs = re.findall(r"file:/run/secrets/(\w+)", (DEPLOY / "desired-state.example.yaml").read_text())
    assert refs and set(refs) <= watcher_secrets


def test_the_deploy_desired_state_validates() -> None:
    proc = subprocess.run(
        [str(BIN / "reconcile"), "validate", str(DEPLOY / "desired-state.example.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_dockerfile_copies_what_exists_and_runs_unprivileged() -> None:
    lines = [ln.strip() for ln in (DEPLOY / "Dockerfile").read_text().splitlines()]
    for ln in lines:
        if ln.startswith("COPY "):
            for src in ln.split()[1:-1]:
                assert (ROOT / src).exists(), src
    users = [ln for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] != "USER root"
    assert next(ln for ln in lines if ln.startswith("FROM ")).startswith("FROM python:3.11")
