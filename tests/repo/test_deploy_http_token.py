"""examples/deploy gives the watcher's HTTP surface a token wherever it listens, from a file secret, and the
scrape example presents the same secret: the watcher would refuse to start off loopback without it."""

from __future__ import annotations

from pathlib import Path

import yaml

from reconciler.observe.destinations import is_loopback_host
from tests.repo.test_deploy_examples import DEPLOY, command_lines, compose

ROOT = Path(__file__).resolve().parents[2]


def _flag(argv: list[str], *names: str) -> str | None:
    for i, a in enumerate(argv):
        if a in names:
            return argv[i + 1]
    return None


def test_every_watcher_listener_has_a_token_from_a_file() -> None:
    watchers = [(where, argv) for where, argv in command_lines() if argv[1:2] == ["watch"]]
    assert {w for w, _ in watchers} == {
        "compose:watcher",
        "compose.fleet:watcher-base-east",
        "compose.fleet:watcher-base-west",
        "compose.fleet:watcher-sepolia-lab",
        "systemd:morpheus-reconcile-watch.service",
        "systemd:morpheus-reconcile-watch@.service",
    }
    for where, argv in watchers:
        listen = _flag(argv, "--http-listen", "--metrics-listen")
        token = _flag(argv, "--http-token")
        assert listen and token and token.startswith("file:"), where
        assert token.endswith("/watch_http_token"), where
        if where.startswith("compose"):
            assert not is_loopback_host(listen.rpartition(":")[0])
            assert "watch_http_token" in compose()["services"]["watcher"]["secrets"]
    unit = (DEPLOY / "systemd" / "morpheus-reconcile-watch.service").read_text()
    assert "LoadCredential=watch_http_token:/etc/morpheus/secrets/watch_http_token" in unit


def test_the_scrape_example_sends_the_tokens_from_files() -> None:
    doc = yaml.safe_load((ROOT / "examples" / "monitoring" / "prometheus.yml").read_text())
    jobs = {j["job_name"]: j for j in doc["scrape_configs"]}
    assert jobs["reconcile-watch"]["authorization"]["credentials_file"].endswith("/watch_http_token")
    assert jobs["reconcile-watch"]["static_configs"][0]["targets"] == ["watcher:9108"]
    assert jobs["morpheus-forwarder"]["authorization"]["credentials_file"].endswith("/forwarder_admin_token")
