"""The layout's rules, as tests (docs/architecture.md, "The stages and their packages").

Each rule is checked twice where it can be: what a fresh interpreter has loaded after importing the module
(catches an import hidden deep in a chain), and, for the package rules, the import statements themselves.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "reconciler"
ADAPTERS = ("web3", "httpx", "click", "aiohttp", "reconciler.chain", "reconciler.apply", "reconciler.watch", "proxy")


def loaded_after(code: str) -> list[str]:
    """The modules a fresh interpreter holds after running `code` (nothing of this process leaks in)."""
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout.splitlines()[-1]))


def hits(modules: list[str], forbidden: tuple[str, ...]) -> list[str]:
    return [m for m in modules if any(m == f or m.startswith(f + ".") for f in forbidden)]


def imported_names(path: Path) -> set[str]:
    """Every module an import statement in `path` names, relative imports resolved."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


def files_under(*parts: str) -> list[Path]:
    return sorted(PACKAGE.joinpath(*parts).rglob("*.py"))


@pytest.mark.parametrize("module", ["reconciler.plan.planner", "reconciler.desired.loader"])
def test_the_planner_and_the_loader_import_no_adapter(module: str) -> None:
    assert hits(loaded_after(f"import {module}"), ADAPTERS) == []


def test_observation_does_not_import_planning() -> None:
    for path in files_under("observe") + files_under("chain"):
        assert [n for n in imported_names(path) if n.startswith("reconciler.plan")] == [], path
    assert hits(loaded_after("import reconciler.observe.world"), ("reconciler.plan",)) == []


def test_only_the_cli_imports_the_commands() -> None:
    shell = {PACKAGE / "cli.py", *files_under("commands")}
    others = [p for p in PACKAGE.rglob("*.py") if p not in shell]
    others += sorted((ROOT / "bench").rglob("*.py")) + sorted((ROOT / "examples").rglob("*.py"))
    others += sorted((ROOT / "tests").rglob("*.py"))
    for path in others:
        assert [n for n in imported_names(path) if n.startswith("reconciler.commands")] == [], path


def test_only_the_face_the_cli_and_the_pipeline_stay_at_the_top() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "cli.py", "pipeline.py"]


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate", "examples/desired-state/devnet.yaml"], ["plan", "--help"], ["devnet", "--help"]],
    ids=lambda a: " ".join(a),
)
def test_commands_that_need_no_chain_leave_web3_and_httpx_out(args: list[str]) -> None:
    code = (
        "from click.testing import CliRunner\nfrom reconciler.cli import cli\n"
        f"r = CliRunner().invoke(cli, {args!r})\nassert r.exit_code == 0, r.output"
    )
    assert hits(loaded_after(code), ("web3", "httpx", "eth_utils", "eth_account")) == []


def test_a_command_that_reads_the_chain_still_imports_web3_when_it_runs() -> None:
    code = "from reconciler.cli import cli\nfrom reconciler.pipeline import make_plan"
    assert hits(loaded_after(code), ("web3",)) != []


def test_the_status_package_imports_no_click() -> None:
    """The status view is rendered for a terminal, a file and a browser; only its command (commands/status.py)
    knows click. (httpx loads click for its own CLI, so what a fresh interpreter holds cannot tell.)"""
    for path in files_under("status"):
        assert [n for n in imported_names(path) if n == "click" or n.startswith("click.")] == [], path
    assert (
        hits(loaded_after("import reconciler.status.report, reconciler.status.server"), ("reconciler.commands",)) == []
    )


ADMIN_CLIENT = PACKAGE / "observe" / "forwarder_admin.py"
HTTP_CLIENTS = ("httpx", "requests", "urllib.request", "urllib3", "http.client", "aiohttp.ClientSession")


def admin_routes() -> set[str]:
    """The paths the forwarder's admin plane serves, read from `admin_app` in proxy/admin.py."""
    tree = ast.parse((ROOT / "proxy" / "admin.py").read_text())
    app = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == "admin_app")
    return {
        call.args[0].value
        for call in ast.walk(app)
        if isinstance(call, ast.Call)
        and isinstance(call.func, ast.Attribute)
        and call.func.attr.startswith("add_")
        and call.args
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    }


def code_strings(path: Path) -> set[str]:
    """The string literals of a module's code, each piece of an f-string included; docstrings left out (they
    may name a route without calling it)."""
    tree = ast.parse(path.read_text(), str(path))
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    }


def test_only_the_forwarder_admin_client_calls_the_forwarder_admin_api() -> None:
    """observe/forwarder_admin.py alone names the admin-only paths (`/admin/...`), and no other module that
    makes HTTP calls names any path of the admin plane (`/metrics`, `/healthz`, ...)."""
    routes = admin_routes()
    assert {"/admin/config", "/admin/reload", "/metrics"} <= routes  # read from the real app, not a copy
    admin_only = {"/" + r.split("/")[1] + "/" for r in routes if r.count("/") > 1}
    assert admin_only == {"/admin/"}
    client = code_strings(ADMIN_CLIENT)
    assert {"/admin/config", "/admin/reload", "/metrics"} <= client
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == ADMIN_CLIENT:
            continue
        found = code_strings(path)
        assert [s for s in found if any(p in s for p in admin_only)] == [], path
        if hits(sorted(imported_names(path)), HTTP_CLIENTS):
            assert [s for s in found if any(s.endswith(r) for r in routes)] == [], path


def test_the_apply_lock_and_the_devnet_share_the_host_helpers_without_importing_each_other() -> None:
    for path in files_under("apply"):
        assert [n for n in imported_names(path) if n.startswith("reconciler.devnet")] == [], path
    for path in files_under("devnet"):
        assert [n for n in imported_names(path) if n.startswith("reconciler.apply")] == [], path
    for path in files_under("host"):
        assert [n for n in imported_names(path) if n.startswith("reconciler.")] == [], path


# ---- the forwarder (proxy/) ---------------------------------------------------------------------------

PROXY = ROOT / "proxy"
# The forwarder's endpoints, and everything that knows Anthropic: the hop serves them and knows none of them.
PROXY_ENDPOINTS = ("proxy.forward", "proxy.relay", "proxy.server", "proxy.cli", "proxy.admin", "proxy.anthropic")


def test_proxy_never_imports_reconciler():
    for path in (ROOT / "proxy").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n == "reconciler" or n.startswith("reconciler.") for n in names), path
    code = "import sys, proxy.cli, proxy.server; assert not [m for m in sys.modules if m.split('.')[0] == 'reconciler']"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("module", ["proxy.hop", "proxy.intake"])
def test_the_forwarders_hop_imports_no_endpoint(module: str) -> None:
    path = PROXY.joinpath(*module.split(".")[1:]).with_suffix(".py")
    assert hits(sorted(imported_names(path)), PROXY_ENDPOINTS) == []
    assert hits(loaded_after(f"import {module}"), PROXY_ENDPOINTS) == []


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _defined_private_names(tree: ast.AST) -> set[str]:
    """The private names a module defines: functions, classes, module names and attributes it assigns."""
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            own.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            own.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
    return {name for name in own if _private(name)}


def test_no_forwarder_module_reaches_into_anothers_private_names() -> None:
    """A private name (`_x`) of a forwarder module is used only in that module: what endpoints share is public
    (aiohttp's own internals, read defensively in server.py, are not the forwarder's names)."""
    trees = {path: ast.parse(path.read_text(), str(path)) for path in sorted(PROXY.rglob("*.py"))}
    defined = {path: _defined_private_names(tree) for path, tree in trees.items()}
    for path, tree in trees.items():
        others = set().union(*(names for other, names in defined.items() if other != path)) - defined[path]
        reached = [
            f"{node.lineno}: {alias.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("proxy")
            for alias in node.names
            if _private(alias.name)
        ]
        reached += [
            f"{node.lineno}: .{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and node.attr in others
        ]
        assert reached == [], path
