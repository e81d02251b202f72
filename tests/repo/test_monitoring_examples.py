"""examples/monitoring is checked, not just written: every PromQL expression in the alert rules and the Grafana
dashboard names only metrics that the watcher and the forwarder export, and promtool accepts the rules and the
scrape config."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from proxy.metrics import Metrics
from reconciler.observe.upstream_health import UpstreamHealth
from reconciler.watch.metrics import WatchMetrics

ROOT = Path(__file__).resolve().parents[2]
MON = ROOT / "examples" / "monitoring"
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def exported() -> set[str]:
    """Every series name the code can export (histograms with their _bucket, _sum and _count)."""
    w = WatchMetrics()
    w.run_finished("converged", 0)
    w.alerted("drift")
    w.funds(1, 1, {"eth": False, "mor": False})
    w.forwarder_seen("up")  # reconcile_watch_forwarder_up is exported once the forwarder was asked
    w.upstreams_seen({"m": UpstreamHealth("m", "up")})  # and reconcile_watch_upstream_up once a model is known
    w.router_seen("up")  # reconcile_watch_router_up once a managed router was asked
    text = w.render() + Metrics().render()
    names: set[str] = set()
    for line in text.splitlines():
        m = re.match(r"# TYPE (\S+) (\S+)", line)
        if m:
            names.add(m[1])
            if m[2] == "histogram":
                names |= {m[1] + "_bucket", m[1] + "_sum", m[1] + "_count"}
    return names


def metric_names(expr: str) -> set[str]:
    """The identifiers of a PromQL expression that are series names (not functions, keywords, labels)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1", e)  # label lists
    e = re.sub(r"\$\w+", "", e)  # Grafana variables
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        word, rest = m[0], e[m.end() :].lstrip()
        function = rest.startswith("(") or re.match(r"(by|without)\b", rest) is not None  # sum by (x) (...)
        if word in PROMQL_WORDS or function or re.fullmatch(r"\d*e\d*", word):
            continue
        names.add(word)
    return names


def rule_exprs() -> list[str]:
    doc = yaml.safe_load((MON / "alerts.yml").read_text())
    return [r["expr"] for g in doc["groups"] for r in g["rules"]]


def dashboard_exprs() -> list[str]:
    doc = json.loads((MON / "grafana-dashboard.json").read_text())
    return [t["expr"] for p in doc["panels"] for t in p.get("targets", [])]


def test_the_name_check_sees_metrics_and_skips_the_rest() -> None:
    expr = 'sum by (model) (rate(morpheus_proxy_requests_total{status="500"}[5m])) / on(model) up > 1e18'
    assert metric_names(expr) == {"morpheus_proxy_requests_total", "up"}


@pytest.mark.parametrize("where", ["alerts", "dashboard"])
def test_every_expression_names_only_exported_metrics(where: str) -> None:
    exprs = rule_exprs() if where == "alerts" else dashboard_exprs()
    assert exprs
    known = exported() | {"up"}  # `up`: Prometheus's own series for each scrape target
    for expr in exprs:
        names = metric_names(expr)
        assert names, expr
        assert names <= known, (expr, names - known)


def test_the_rules_cover_what_an_operator_is_woken_for() -> None:
    text = " ".join(rule_exprs())
    for metric in (
        "reconcile_watch_low_funds",
        "reconcile_watch_writer_conflict",
        "reconcile_watch_suspended",
        "reconcile_watch_backing_off",
        "morpheus_proxy_capacity",
        "morpheus_proxy_upstream_errors_total",
    ):
        assert metric in text


def test_the_rules_cover_every_blocked_state_and_the_watchers_up() -> None:
    text = " ".join(rule_exprs())
    for metric in (
        'up{job="reconcile-watch"}',
        "reconcile_watch_desired_invalid",
        'result="git-blocked"',
        "reconcile_watch_blocked_manual",
        "reconcile_watch_held_actions",
        "reconcile_watch_auto_apply == 0",  # drift reported by an alert-only watcher
    ):
        assert metric in text, metric


def alert_names() -> set[str]:
    doc = yaml.safe_load((MON / "alerts.yml").read_text())
    return {r["alert"] for g in doc["groups"] for r in g["rules"] if "alert" in r}


def rule_tests() -> list[Path]:
    return sorted((MON / "tests").glob("*.test.yml"))


def test_every_alert_rule_is_tested_and_the_tests_pass() -> None:
    tested = {t["alertname"] for f in rule_tests() for c in yaml.safe_load(f.read_text())["tests"]
              for t in c.get("alert_rule_test", [])}  # fmt: skip
    assert alert_names() <= tested, sorted(alert_names() - tested)
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing (make test installs Debian's prometheus package)")
    r = subprocess.run([promtool, "test", "rules", *map(str, rule_tests())], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_accepts_the_rules_and_the_scrape_config(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing (make test installs Debian's prometheus package)")
    r = subprocess.run([promtool, "check", "rules", str(MON / "alerts.yml")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # the scrape config names token files on the monitoring host: check it against stand-ins
    shutil.copy(MON / "alerts.yml", tmp_path / "alerts.yml")
    config = (MON / "prometheus.yml").read_text()
    for name in re.findall(r"credentials_file: (\S+)", config):
        stand_in = tmp_path / Path(name).name
        stand_in.write_text("token\n")
        config = config.replace(name, str(stand_in))
    (tmp_path / "prometheus.yml").write_text(config)
    r = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_the_dashboard_selects_instances_and_shows_up() -> None:
    doc = json.loads((MON / "grafana-dashboard.json").read_text())
    variables = {v["name"]: v for v in doc["templating"]["list"]}
    assert {"watcher", "forwarder"} <= set(variables)
    for expr in dashboard_exprs():
        for name in metric_names(expr):
            var = (
                "$watcher" if name.startswith("reconcile_") else "$forwarder" if name.startswith("morpheus_") else None
            )
            if var is not None:
                assert re.search(rf'\b{name}\{{[^}}]*instance=~"\{var}"', expr), (name, expr)
    ups = [e for e in dashboard_exprs() if "up" in metric_names(e)]
    assert any('job="reconcile-watch"' in e for e in ups) and any('job="morpheus-forwarder"' in e for e in ups)


def test_the_dashboard_shows_what_serves_as_the_watcher_judges_it() -> None:
    """The forwarder, each model's upstream and the router as the watcher judges them, each for the selected
    watchers (the test above checks the `$watcher` selector on every watcher metric)."""
    shown = {name for e in dashboard_exprs() for name in metric_names(e)}
    assert {"reconcile_watch_forwarder_up", "reconcile_watch_upstream_up", "reconcile_watch_router_up"} <= shown
    doc = json.loads((MON / "grafana-dashboard.json").read_text())
    upstream = next(p for p in doc["panels"] for t in p.get("targets", []) if "upstream_up" in t["expr"])
    assert "{{model}}" in upstream["targets"][0]["legendFormat"]
