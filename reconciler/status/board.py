"""What the status page shows, kept by the watcher between runs: the shell around reconciler.status.page.

Why a holder: the loop writes after each run (the run line, the observation, the day figures), the HTTP thread
reads on each page load; a lock keeps the two apart, and a page load only builds the document from memory. The
last runs are also appended to `STATE/watch-runs.jsonl` (capped) so a restarted watcher and `reconcile status
--format html` show history; the day figures live in the provider's folder (`daily.json`).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.market.margin import Usage
from reconciler.status import daily
from reconciler.status.forwarder_figures import Sampler, figures
from reconciler.status.page import RUNS_SHOWN, FleetPlace, Observation, PageInputs, WatcherStatus, build_page

RUNS_FILE = "watch-runs.jsonl"
KEEP_RUNS = 500


def load_runs(path: Path, keep: int = KEEP_RUNS) -> list[dict[str, Any]]:
    """The last `keep` run lines of a runs file (torn or foreign lines skipped)."""
    try:
        lines = path.read_text().splitlines()[-keep:]
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            d = json.loads(line)
        except ValueError:
            continue
        if isinstance(d, dict) and d.get("event") == "run":
            out.append(d)
    return out


class Board:
    def __init__(self, state_dir: Path, sampler: Sampler | None = None, clock: Callable[[], float] = time.time) -> None:
        self.state_dir = state_dir
        self.sampler = sampler
        self.clock = clock
        self.runs_path = state_dir / RUNS_FILE
        self.runs: deque[dict[str, Any]] = deque(load_runs(self.runs_path), maxlen=KEEP_RUNS)
        self._appended = 0
        self.observation: Observation | None = None
        self.days: dict[str, daily.DayFigures] = {}
        self.daily_path: Path | None = None
        self.watcher: WatcherStatus | None = None
        self.budget_limit: int | None = None
        self.spent_last_day = 0
        self.fleet: FleetPlace | None = None  # a fleet member's watcher: its name and the others' pages
        self.usage: Mapping[str, Mapping[str, Usage]] = {}  # the forwarder's usage by day (margins)
        self._lock = threading.Lock()

    # --- written by the loop ------------------------------------------------------------------------

    def provider(self, provider_dir: Path, budget_limit: int | None, spent_last_day: int) -> None:
        """The provider the run is for: where its day figures live, and its rolling-day budget."""
        path = provider_dir / daily.FILE
        with self._lock:
            if path != self.daily_path:
                self.daily_path, self.days = path, daily.load(path)
            self.budget_limit, self.spent_last_day = budget_limit, spent_last_day

    def in_fleet(self, place: FleetPlace) -> None:
        """The fleet the watcher's provider belongs to, as the last load of the fleet said."""
        with self._lock:
            self.fleet = place

    def usage_seen(self, usage: Mapping[str, Mapping[str, Usage]]) -> None:
        """The forwarder's usage by day and model as the loop folded it (reconciler.status.usage_days)."""
        with self._lock:
            self.usage = usage

    def observed(self, observation: Observation) -> None:
        """A fresh chain reading and plan: the rows, sessions and money, and the day figures it covers."""
        earned = daily.earned_by_day(observation.chain)
        with self._lock:
            self.observation = observation
            self.days = daily.merge(self.days, earned)
            self._save_days()

    def run_finished(self, line: Mapping[str, Any], watcher: WatcherStatus, spent_last_day: int | None = None) -> None:
        spent = int(line.get("morSpentWei") or 0)
        with self._lock:
            self.runs.append(dict(line))
            self.watcher = watcher
            if spent_last_day is not None:
                self.spent_last_day = spent_last_day
            if spent:
                self.days = daily.merge(self.days, spent=spent, now=float(line.get("ts") or self.clock()))
                self._save_days()
        self._append(line)

    def _save_days(self) -> None:
        if self.daily_path is not None:
            daily.save(self.daily_path, self.days)

    def _append(self, line: Mapping[str, Any]) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with self.runs_path.open("a") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")
        self._appended += 1
        if self._appended >= KEEP_RUNS:  # keep the file short: rewrite it with the last KEEP_RUNS lines
            self._appended = 0
            keep = load_runs(self.runs_path)
            tmp = self.runs_path.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in keep))
            tmp.replace(self.runs_path)

    # --- read by the HTTP thread --------------------------------------------------------------------

    def inputs(self) -> PageInputs:
        samples, note = self.sampler.snapshot() if self.sampler is not None else ([], "")
        with self._lock:
            return PageInputs(
                now=self.clock(),
                observation=self.observation,
                runs=list(self.runs),
                days=dict(self.days),
                budget_limit=self.budget_limit,
                spent_last_day=self.spent_last_day,
                watcher=self.watcher,
                forwarder=figures(samples),
                forwarder_note=note,
                forwarder_seen_at=samples[-1].ts if samples else None,
                fleet=self.fleet,
                usage=self.usage,
            )

    def doc(self, runs: int | None = RUNS_SHOWN) -> dict[str, Any]:
        """The page document with the last `runs` runs (None: every run kept, the page's `?runs=all`)."""
        return build_page(replace(self.inputs(), runs_shown=runs))
