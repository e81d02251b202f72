"""The reconcile-serving alert rules (examples/monitoring/alerts.yml) behave as tests/repo/promtool/serving.test.yml
says: `promtool test rules` evaluates them on series shaped like the watcher's /metrics."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TESTS = Path(__file__).resolve().parent / "promtool" / "serving.test.yml"


def test_every_serving_rule_has_a_promtool_test() -> None:
    rules = yaml.safe_load((ROOT / "examples" / "monitoring" / "alerts.yml").read_text())
    group = next(g for g in rules["groups"] if g["name"] == "reconcile-serving")
    tested = {t["alertname"] for case in yaml.safe_load(TESTS.read_text())["tests"] for t in case["alert_rule_test"]}
    assert {r["alert"] for r in group["rules"]} == tested


def test_promtool_test_rules_passes() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool missing (make test installs Debian's prometheus package)")
    r = subprocess.run([promtool, "test", "rules", str(TESTS)], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
