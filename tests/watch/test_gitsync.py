"""--git-pull against a local bare repository as the remote: fast-forward only, alerts otherwise."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.watch.gitsync import checkout_root, pull_fast_forward


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(cwd), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(bare remote, the watcher's checkout, a colleague's clone)."""
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    seed = tmp_path / "seed"
    subprocess.run(["git", "clone", "-q", str(bare), str(seed)], check=True, capture_output=True)
    (seed / "desired.yaml").write_text("a: 1\n")
    git(seed, "add", ".")
    git(seed, "commit", "-qm", "first")
    git(seed, "push", "-q", "origin", "HEAD:main")
    server = tmp_path / "server"
    subprocess.run(["git", "clone", "-q", str(bare), str(server)], check=True)
    return bare, server, seed


def push_change(seed: Path, text: str) -> str:
    (seed / "desired.yaml").write_text(text)
    git(seed, "commit", "-qam", "change")
    git(seed, "push", "-q", "origin", "HEAD:main")
    return git(seed, "rev-parse", "HEAD")


def test_fast_forward_and_up_to_date(repos: tuple[Path, Path, Path]) -> None:
    _, server, seed = repos
    assert pull_fast_forward(server).outcome == "up-to-date"
    new = push_change(seed, "a: 2\n")
    res = pull_fast_forward(server)
    assert res.outcome == "fast-forwarded" and res.after == new and not res.alert
    assert (server / "desired.yaml").read_text() == "a: 2\n"
    assert checkout_root(server / "desired.yaml") == server.resolve()


def test_local_changes_are_never_overwritten(repos: tuple[Path, Path, Path]) -> None:
    _, server, seed = repos
    push_change(seed, "a: 2\n")
    (server / "desired.yaml").write_text("a: hand-edited\n")
    res = pull_fast_forward(server)
    assert res.outcome == "local-changes" and res.alert
    assert (server / "desired.yaml").read_text() == "a: hand-edited\n"


def test_diverged_branch_is_not_merged(repos: tuple[Path, Path, Path]) -> None:
    _, server, seed = repos
    push_change(seed, "a: 2\n")
    (server / "other.yaml").write_text("b: 1\n")
    git(server, "add", ".")
    git(server, "commit", "-qm", "local commit")
    local = git(server, "rev-parse", "HEAD")
    res = pull_fast_forward(server)
    assert res.outcome == "diverged" and res.alert
    assert git(server, "rev-parse", "HEAD") == local


def test_not_a_checkout(tmp_path: Path) -> None:
    assert checkout_root(tmp_path) is None
    assert pull_fast_forward(tmp_path).outcome == "error"


def test_git_pull_outside_a_checkout_is_an_error(tmp_path: Path) -> None:
    """`watch --git-pull` on a path no git checkout holds exits 1 at start, naming the path (issue 21)."""
    from click.testing import CliRunner

    from reconciler.cli import cli

    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "desired.yaml").write_text("a: 1\n")
    r = CliRunner().invoke(
        cli,
        ["watch", str(lone / "desired.yaml"), "--git-pull", "60", "--state-dir", str(tmp_path / "s")],
        env={"GIT_CEILING_DIRECTORIES": str(tmp_path)},
    )
    assert r.exit_code == 1 and "not inside a git checkout" in r.stderr, r.output
