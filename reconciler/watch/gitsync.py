"""GitOps pull for `reconcile watch --git-pull`: fetch the checkout's upstream and fast-forward, never more.

It never merges, rebases or resets: local changes or a diverged branch leave the checkout as it is and come
back as an alert, so a person decides. Plain `git` subprocesses; no shell.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from reconciler import EndpointUnusable

Outcome = Literal["up-to-date", "fast-forwarded", "local-changes", "diverged", "no-upstream", "error"]


@dataclass(frozen=True)
class PullResult:
    outcome: Outcome
    before: str | None
    after: str | None
    message: str

    @property
    def alert(self) -> bool:
        """True when a person must look (the checkout was left untouched)."""
        return self.outcome in ("local-changes", "diverged", "no-upstream", "error")


class GitError(EndpointUnusable):
    pass


class NotACheckout(GitError):
    """`--git-pull` on a PATH outside a git checkout: refused at start rather than silently never pulling."""


def require_checkout(path: Path) -> Path:
    """The checkout holding `path`, for `--git-pull` (NotACheckout when there is none)."""
    root = checkout_root(path)
    if root is None:
        raise NotACheckout(
            f"--git-pull: {path} is not inside a git checkout, so nothing would ever be pulled; clone the "
            "desired-state repository and watch the path inside it, or leave --git-pull out"
        )
    return root


def _git(repo: Path, *args: str, timeout: float = 60.0) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"},  # keep SSH agent, HOME, proxies
    )
    if proc.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def checkout_root(path: Path) -> Path | None:
    """The top of the git checkout holding path, or None when path is not inside one."""
    start = path if path.is_dir() else path.parent
    try:
        return Path(_git(start, "rev-parse", "--show-toplevel"))
    except (GitError, FileNotFoundError, subprocess.TimeoutExpired):
        return None


def head(repo: Path) -> str:
    return _git(repo, "rev-parse", "HEAD")


def pull_fast_forward(repo: Path) -> PullResult:
    """Fetch the current branch's upstream and fast-forward to it when that is all it takes."""
    try:
        before = head(repo)
        try:
            upstream = _git(repo, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
        except GitError:
            return PullResult("no-upstream", before, before, "the checkout's branch has no upstream to pull from")
        remote = upstream.split("/", 1)[0]
        _git(repo, "fetch", "--quiet", remote)
        target = _git(repo, "rev-parse", "@{upstream}")
        if target == before:
            return PullResult("up-to-date", before, before, f"at {before[:12]} ({upstream})")
        if _git(repo, "status", "--porcelain", "--untracked-files=no"):
            return PullResult(
                "local-changes",
                before,
                before,
                f"{upstream} moved to {target[:12]} but the checkout has local changes; not pulling (commit or "
                f"discard them)",
            )
        try:
            _git(repo, "merge-base", "--is-ancestor", before, target)
        except GitError:
            return PullResult(
                "diverged",
                before,
                before,
                f"local {before[:12]} is not an ancestor of {upstream} {target[:12]}; not pulling (never merges or resets)",
            )
        _git(repo, "merge", "--ff-only", "--quiet", target)
        return PullResult(
            "fast-forwarded", before, target, f"fast-forwarded {before[:12]} -> {target[:12]} ({upstream})"
        )
    except (GitError, subprocess.TimeoutExpired, FileNotFoundError) as exc:
        return PullResult("error", None, None, str(exc))
