"""examples/deploy starts for real, checked statically (no container engine runs here, and the base image needs a
registry this machine cannot reach): the image's user can read its secrets and write its checkout, git can reach
the desired-state repository over SSH with a mounted deploy key, and the systemd units pass `systemd-analyze
verify` and never fail with 226/NAMESPACE for a folder that is not there."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.repo.test_deploy_examples import DEPLOY, compose, unit_sections

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
SECRETS_README = DEPLOY / "secrets" / "README.md"


def image_uid() -> str:
    m = re.search(r"useradd\b[^\n]*--uid (\d+)", (DEPLOY / "Dockerfile").read_text())
    assert m, "the Dockerfile creates its user with a fixed uid"
    return m.group(1)


def settings(unit: Path, key: str) -> list[str]:
    return [v for k, v in unit_sections(unit)["Service"] if k == key]


def words(unit: Path, key: str) -> list[str]:
    return [w for v in settings(unit, key) for w in v.split()]


def desired_state_origin(tmp_path: Path) -> Path:
    """A bare repository standing in for the git host, holding desired-state/providers.yaml."""
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(origin)], check=True, timeout=30)
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", str(origin), str(work)], check=True, timeout=30)
    (work / "desired-state").mkdir()
    (work / "desired-state" / "providers.yaml").write_text("version: 1\n")
    git = ["git", "-C", str(work), "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run([*git, "add", "."], check=True, timeout=30)
    subprocess.run([*git, "commit", "-q", "-m", "first"], check=True, timeout=30)
    subprocess.run([*git, "push", "-q", "origin", "HEAD"], check=True, timeout=30)
    return origin


def run_unit_shell(unit: Path, key: str, old: str, new: str, env: dict[str, str]) -> None:
    """Run a unit's `/bin/sh -c SCRIPT` line as systemd would ($$ passes a literal $), `old` paths moved to `new`."""
    (line,) = settings(unit, key)
    argv = shlex.split(line)
    assert argv[:2] == ["/bin/sh", "-c"], argv
    script = argv[2].replace("$$", "$").replace(old, new)
    subprocess.run(["/bin/sh", "-c", script], check=True, timeout=60, env={"PATH": "/usr/bin:/bin", **env})


def test_secret_files_are_given_to_the_images_user_never_opened_to_others() -> None:
    """Compose file secrets are bind mounts: they keep the host file's owner and mode (uid/gid/mode apply only in
    swarm), so the host file itself must belong to the image's uid, mode 0600."""
    uid = image_uid()
    text = SECRETS_README.read_text()
    assert f"install -o {uid} -g {uid} -m 600" in text
    assert "owned by the deploying user" not in text
    for path in (SECRETS_README, DEPLOY / "README.md", DEPLOY / "compose.yaml"):
        assert not re.search(r"chmod\s+(0?6[4-7][0-7]|0?6[0-7][4-7]|[ago]*\+r|0?7[0-7][0-7]|0?64)", path.read_text())
    for name, svc in compose()["services"].items():
        for secret in svc.get("secrets", []):
            assert isinstance(secret, str), f"{name}: uid/gid/mode of a file secret are ignored outside swarm"


def test_the_image_has_an_ssh_client_for_the_git_pull() -> None:
    installs = [ln for ln in (DEPLOY / "Dockerfile").read_text().splitlines() if "apt-get install" in ln]
    assert installs and any(re.search(r"(?<![\w-])openssh-client(?![\w-])", ln) for ln in installs)


def test_the_compose_watcher_pulls_with_a_mounted_deploy_key_and_pinned_host_keys() -> None:
    doc = compose()
    services = doc["services"]
    for name in ("watcher", "desired-state-init"):
        svc = services[name]
        assert {"deploy_key", "known_hosts"} <= set(svc["secrets"]), name
        ssh = shlex.split(svc["environment"]["GIT_SSH_COMMAND"])
        assert ssh[0] == "ssh"
        assert ssh[ssh.index("-i") + 1] == "/run/secrets/deploy_key"
        assert "UserKnownHostsFile=/run/secrets/known_hosts" in ssh and "StrictHostKeyChecking=yes" in ssh
        assert "IdentitiesOnly=yes" in ssh
    assert doc["secrets"]["deploy_key"] == {"file": "./secrets/deploy_key"}
    readme = SECRETS_README.read_text()
    assert "`deploy_key`" in readme and "`known_hosts`" in readme


def test_the_compose_checkout_is_a_volume_the_images_user_owns_cloned_before_the_watcher_starts(
    tmp_path: Path,
) -> None:
    services = compose()["services"]
    mount = "desired-state:/srv/desired-state"
    assert mount in services["watcher"]["volumes"] and mount in services["desired-state-init"]["volumes"]
    assert not any(v.startswith(".") and ":/srv/desired-state" in v for v in services["watcher"]["volumes"])
    assert services["watcher"]["depends_on"]["desired-state-init"] == {"condition": "service_completed_successfully"}
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"chown -R morpheus\S* [^\n]*/srv/desired-state", dockerfile), "a new volume copies the owner"

    # the init script as compose passes it: clones into the empty volume once, never touches an existing checkout
    origin = desired_state_origin(tmp_path)
    checkout = tmp_path / "volume"
    checkout.mkdir()
    argv = services["desired-state-init"]["command"]
    script = argv[2].replace("$$", "$").replace("/srv/desired-state", str(checkout))
    env = {"PATH": "/usr/bin:/bin", "DESIRED_STATE_REPO": str(origin), "HOME": str(tmp_path)}
    subprocess.run([argv[0], argv[1], script], check=True, timeout=60, env=env)
    assert (checkout / "desired-state" / "providers.yaml").read_text() == "version: 1\n"
    (checkout / "desired-state" / "providers.yaml").write_text("kept\n")
    subprocess.run([argv[0], argv[1], script], check=True, timeout=60, env=env)
    assert (checkout / "desired-state" / "providers.yaml").read_text() == "kept\n"
    repo = services["desired-state-init"]["environment"]["DESIRED_STATE_REPO"]
    assert repo.startswith("${DESIRED_STATE_REPO:?"), "compose refuses to start without the repository's URL"


@pytest.mark.parametrize("unit", UNITS, ids=[u.name for u in UNITS])
def test_a_unit_names_no_folder_that_may_be_missing_without_the_dash(unit: Path) -> None:
    """A path in ReadWritePaths=/ReadOnlyPaths= that does not exist fails the unit with 226/NAMESPACE unless it
    has the `-` prefix; the unit's StateDirectory= folders are created by systemd itself."""
    state = [f"/var/lib/{d}" for d in words(unit, "StateDirectory")]
    assert state, "StateDirectory= makes systemd create the unit's folder, owned by its user"
    for key in ("ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths"):
        for path in words(unit, key):
            assert path.startswith("-") or any(path == d or path.startswith(d + "/") for d in state), (key, path)


def test_the_watcher_unit_writes_only_inside_its_state_directory_or_optional_paths() -> None:
    unit = DEPLOY / "systemd" / "morpheus-reconcile-watch.service"
    state = [f"/var/lib/{d}" for d in words(unit, "StateDirectory")]
    argv = shlex.split(settings(unit, "ExecStart")[0])
    inside = [argv[argv.index("--state-dir") + 1], argv[argv.index("watch") + 1]]
    for path in inside:
        assert any(path.startswith(d + "/") for d in state), path
    assert "-/opt/proxy-router" in words(unit, "ReadWritePaths")


def test_the_watcher_unit_says_where_the_deploy_key_lives() -> None:
    """ProtectHome=yes hides ~/.ssh: the key comes as a credential, the host keys from /etc."""
    unit = DEPLOY / "systemd" / "morpheus-reconcile-watch.service"
    assert settings(unit, "ProtectHome") == ["yes"]
    assert "deploy_key:/etc/morpheus/secrets/deploy_key" in settings(unit, "LoadCredential")
    env = [v for v in settings(unit, "Environment") if v.strip('"').startswith("GIT_SSH_COMMAND=")]
    assert len(env) == 1
    ssh = shlex.split(env[0].strip('"').split("=", 1)[1])
    assert ssh[ssh.index("-i") + 1] == "%d/deploy_key"
    assert "UserKnownHostsFile=/etc/morpheus/known_hosts" in ssh and "StrictHostKeyChecking=yes" in ssh
    readme = (DEPLOY / "README.md").read_text()
    assert "/etc/morpheus/secrets/deploy_key" in readme and "/etc/morpheus/known_hosts" in readme


def test_the_forwarder_unit_writes_an_empty_config_once(tmp_path: Path) -> None:
    unit = DEPLOY / "systemd" / "morpheus-forwarder.service"
    assert words(unit, "StateDirectory") == ["morpheus/models"]
    models = tmp_path / "models"
    models.mkdir()
    run_unit_shell(unit, "ExecStartPre", "/var/lib/morpheus/models", str(models), {})
    assert json.loads((models / "forwarder-models.json").read_text()) == {"models": []}
    (models / "forwarder-models.json").write_text('{"models": [{"kept": true}]}')
    run_unit_shell(unit, "ExecStartPre", "/var/lib/morpheus/models", str(models), {})
    assert json.loads((models / "forwarder-models.json").read_text()) == {"models": [{"kept": True}]}


def test_the_watcher_unit_clones_the_desired_state_once(tmp_path: Path) -> None:
    unit = DEPLOY / "systemd" / "morpheus-reconcile-watch.service"
    origin = desired_state_origin(tmp_path)
    state = tmp_path / "state"
    state.mkdir()
    env = {"DESIRED_STATE_REPO": str(origin), "HOME": str(tmp_path)}
    run_unit_shell(unit, "ExecStartPre", "/var/lib/morpheus", str(state), env)
    assert (state / "desired-state" / "desired-state" / "providers.yaml").read_text() == "version: 1\n"
    (state / "desired-state" / "desired-state" / "providers.yaml").write_text("kept\n")
    run_unit_shell(unit, "ExecStartPre", "/var/lib/morpheus", str(state), env)
    assert (state / "desired-state" / "desired-state" / "providers.yaml").read_text() == "kept\n"
    argv = shlex.split(settings(unit, "ExecStart")[0])
    assert argv[argv.index("watch") + 1] == "/var/lib/morpheus/desired-state/desired-state"
    assert any(v.startswith("DESIRED_STATE_REPO=") for v in settings(unit, "Environment"))


def verify_root(tmp_path: Path, units: list[Path]) -> Path:
    """A --root tree for `systemd-analyze verify`: the system's own units (targets), stub executables where the
    units expect ours, and the units under test in etc/systemd/system."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for unit in units:
        for key in ("ExecStart", "ExecStartPre", "ExecStartPost", "ExecReload", "ExecStop"):
            for value in settings(unit, key):
                exe = root / shlex.split(value)[0].lstrip("-@:+!").lstrip("/")
                exe.parent.mkdir(parents=True, exist_ok=True)
                exe.write_text("#!/bin/sh\n")
                exe.chmod(0o755)
    dest = root / "etc/systemd/system"
    dest.mkdir(parents=True)
    for unit in units:
        shutil.copy(unit, dest / unit.name)
    return root


def systemd_analyze_verify(root: Path, names: list[str]) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze missing (make test installs Debian's systemd package)")
    return subprocess.run(
        [exe, "verify", "--man=no", f"--root={root}", *names], capture_output=True, text=True, timeout=120
    )


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    proc = systemd_analyze_verify(verify_root(tmp_path, UNITS), [u.name for u in UNITS])
    assert proc.returncode == 0 and proc.stdout + proc.stderr == "", proc.stdout + proc.stderr


def test_systemd_analyze_verify_catches_a_misspelt_setting(tmp_path: Path) -> None:
    bad = tmp_path / "morpheus-bad.service"
    bad.write_text(UNITS[0].read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    proc = systemd_analyze_verify(verify_root(tmp_path, [bad]), [bad.name])
    assert "Unknown key 'NoNewPrivilege'" in proc.stdout + proc.stderr
