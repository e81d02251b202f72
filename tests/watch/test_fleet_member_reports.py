"""A fleet member's watcher names its member in what it reports (issue 30): three hosts posting to one channel
must tell who alerted. The run line (stdout and watch-runs.jsonl) carries `member`, a webhook alert's details too,
and its summary starts with the name; a single provider's watcher reports exactly as before (no `member`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from reconciler.status.board import RUNS_FILE, Board
from reconciler.watch.loop import Watcher, WatchOptions
from reconciler.watch.notify import Webhook
from reconciler.watch.triggers import Trigger
from tests.support.watch_helpers import Hooks, webhook_receiver

ROOT = Path(__file__).resolve().parents[2]


def _one_run(path: Path, state: Path, hooks: Hooks, provider: str | None) -> tuple[dict[str, Any], list[str]]:
    """One run of a watcher on `path` whose files are invalid (nothing to reach: no chain is read)."""
    lines: list[str] = []
    errs: list[str] = []
    opts = WatchOptions(
        path,
        state,
        webhook=Webhook(hooks.url),
        out=lines.append,
        err=errs.append,
        provider=provider,
        board=Board(state),
    )
    line = Watcher(opts).run([Trigger("start")])
    assert json.loads(lines[-1]) == line
    assert [json.loads(x) for x in (state / RUNS_FILE).read_text().splitlines()][-1] == line
    return line, errs


def test_a_members_run_line_and_alert_name_it_and_a_single_providers_do_not(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet"
    shutil.copytree(ROOT / "examples" / "desired-state" / "fleet", fleet)
    (fleet / "upstreams.yaml").write_text("upstreams: [\n")  # a broken shared file: every member alerts
    single = tmp_path / "provider.yaml"
    single.write_text("network: [\n")
    with webhook_receiver() as hooks:
        line, errs = _one_run(fleet, tmp_path / "state-west", hooks, "base-west")
        assert line["result"] == "invalid-desired-state" and line["member"] == "base-west"
        (posted,) = hooks.named("invalid-desired-state")
        assert posted["details"]["member"] == "base-west"
        assert posted["summary"].startswith("base-west: ")
        assert any(e.startswith("alert invalid-desired-state: base-west: ") for e in errs), errs

        alone, alone_errs = _one_run(single, tmp_path / "state-one", hooks, None)
        assert alone["result"] == "invalid-desired-state" and "member" not in alone
        last = hooks.named("invalid-desired-state")[-1]
        assert last is not posted and "member" not in last["details"]
        assert not last["summary"].startswith(("base-", ":")), last["summary"]
        assert any(e.startswith("alert invalid-desired-state: ") for e in alone_errs), alone_errs
