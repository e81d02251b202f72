"""Docs and code name only files that are in the repository (issue 21): Markdown links, `*.md` names and
repository paths (`reconciler/...`, `docs/...`, `examples/...`) in the docs, examples and code all resolve, and
nothing points outside the repository (`../shared/`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP = ("reconciler", "proxy", "docs", "examples", "tests", "schemas", "contracts", "bench", "tools")
REPO_PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(TOP)})/[\w./@-]*[\w/])")
MD_NAME = re.compile(r"(?<![\w./-])([\w./-]*[\w-]\.md)\b")
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")
OUTSIDE = re.compile(r"\.\./shared\b|\.\./\.\./shared\b")
NOT_FILES_HERE = {
    "plan.md": "written by the CI jobs at run time",
    "comment.md": "written by the CI jobs at run time",
    "bench/.litellm-venv": "made by `make bench`",
    "contracts/diamond/facets/SessionRouter.sol": "a path in MorpheusAIs/Morpheus-Lumerin-Node, named with it",
    "docs/session-day-lock-upgrade-runbook.md": "a path in MorpheusAIs/Morpheus-Lumerin-Node, named with it",
}
INSTALLED_BY_MAKE = ("tools/node_modules", "tools/test/node_modules")  # present only once make has installed them


def tracked() -> list[Path]:
    out = subprocess.run(["git", "-C", str(ROOT), "ls-files"], capture_output=True, text=True, check=True).stdout
    return [ROOT / line for line in out.splitlines()]


def scanned() -> list[Path]:
    keep = (".md", ".py", ".yaml", ".yml", ".toml", ".service", ".sol", ".json")
    files = [p for p in tracked() if p.suffix in keep or p.name in ("Makefile", "Dockerfile")]
    return [p for p in files if p.exists() and "contracts/build" not in str(p) and p.suffix != ".json"]


def _exists(ref: str, source: Path) -> bool:
    ref = ref.rstrip(".,:;")
    if (
        ref in NOT_FILES_HERE or ref.startswith(INSTALLED_BY_MAKE) or any(ch in ref for ch in "*<>{}$")
    ):  # a pattern or a placeholder, not a file
        return True
    return any((base / ref).exists() for base in (source.parent, ROOT))


def test_no_reference_points_outside_the_repository() -> None:
    bad = [f"{p.relative_to(ROOT)}" for p in scanned() if p != Path(__file__) and OUTSIDE.search(p.read_text())]
    assert bad == []


def test_every_named_file_is_in_the_repository() -> None:
    names = {p.name for p in tracked()}
    missing: list[str] = []
    for path in scanned():
        if path == Path(__file__):
            continue
        text = path.read_text(errors="replace")
        where = str(path.relative_to(ROOT))
        for link in LINK.findall(text) if path.suffix == ".md" else []:
            if not re.match(r"[a-z]+:", link) and not _exists(link, path):
                missing.append(f"{where}: link {link}")
        for name in MD_NAME.findall(text):
            if "/" not in name and name not in names and name not in NOT_FILES_HERE:
                missing.append(f"{where}: {name}")
        for ref in REPO_PATH.findall(text):
            if not _exists(ref, path):
                missing.append(f"{where}: {ref}")
    assert missing == [], "\n".join(sorted(set(missing)))
