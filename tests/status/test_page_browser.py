"""The status page in a real browser: Debian's headless Chromium (driven by selenium through chromedriver) loads
the page served by a real `reconcile watch` on the devnet, with the real forwarder and a live buyer session.

The page's layout needs no devnet: a page of 25 runs with 66-character ids, served by a real watch server on
loopback, never makes the document wider than the window from 360 px up.

One browser session on the devnet: sign in through the form, the rows and their states match the plan, the chart has one point
per day with data, a price edit shows as pending (watcher suspended) then in sync (resumed) without a reload,
and neither the page nor its data endpoint holds a secret. `UPDATE_SCREENSHOT=1` also writes docs/status-page.png.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.apply.writer import state_path
from reconciler.chain.networks import resolve_network
from reconciler.desired.loader import load_desired
from reconciler.devnet import buyer as sessions_devnet
from reconciler.market.ids import norm_hex
from reconciler.pipeline import make_plan
from reconciler.status import daily
from reconciler.status.page import build_page
from reconciler.status.server import WatchServer
from reconciler.watch.metrics import WatchMetrics
from tests.status.test_page import LONG_ID, glance_inputs
from tests.support.apply_helpers import DevnetCase, example_devnet
from tests.support.ports import free_port
from tests.support.watch_helpers import forwarder_process, watch_process

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ADMIN = "page-admin-canary-51c2"
PAGE_TOKEN = "page-token-canary-9e4b-0123456789abcdef"  # at least 32 characters
UPSTREAM = "page-upstream-canary-d07a"
BROWSER_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1800",
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None or CHROMEDRIVER is None, reason="needs Debian's chromium and chromium-driver (make test)"
    ),
]


def _browser(profile: Path) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in (*BROWSER_FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)


def _rows(driver: Any) -> dict[str, dict[str, str]]:
    """The page's rows: id -> {"state", and each place's state}."""
    script = """
      return Array.from(document.querySelectorAll('#rows tr.row')).map(function (tr) {
        var out = {id: tr.getAttribute('data-id'), kind: tr.getAttribute('data-kind'),
                   state: tr.getAttribute('data-state')};
        tr.querySelectorAll('td[data-place]').forEach(function (td) {
          out[td.getAttribute('data-place')] = td.getAttribute('data-state'); });
        return out; });
    """
    return {norm_hex(r["id"]) if r["kind"] == "model" else "provider": r for r in driver.execute_script(script)}


def _wait(pred: Any, what: str, timeout: float = 45.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = pred()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


def _reconcile(work: Path, *args: str) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "reconciler.cli", *args], capture_output=True, text=True, cwd=work, timeout=60
    )
    assert r.returncode == 0, r.stderr


@pytest.mark.devnet
def test_status_page_in_a_real_browser(tmp_path: Path) -> None:
    with example_devnet(tmp_path) as case:
        yaml, work, config, info = case.yaml, case.work, case.forwarder_config, case.info
        with forwarder_process(config, ADMIN) as (_port, admin):
            text = yaml.read_text().replace(
                "proxy:\n", f"proxy:\n  adminUrl: http://127.0.0.1:{admin}\n  adminToken: env:FWD_ADMIN_TOKEN\n"
            )
            yaml.write_text(text.replace("policy:\n", 'policy:\n  maxSpendPerDay: "5 MOR"\n'))
            env = case.env(FWD_ADMIN_TOKEN=ADMIN, PAGE_TOKEN=PAGE_TOKEN, DEMO_UPSTREAM_KEY=UPSTREAM)
            desired, _ = load_desired(yaml)
            provider_dir = state_path(case.state, resolve_network(desired.network, env), desired.provider.address)
            now = time.time()
            # figures an earlier watcher aggregated into the state dir: three past days
            seeded = [(daily.day_of(now - k * 86400), k * 10**17, (k % 2) * 10**17) for k in (3, 9, 20)]
            daily.seed(provider_dir / daily.FILE, seeded)
            port = free_port()
            args = [str(yaml), "--auto-apply", "--poll", "0.2", "--interval", "3", "--state-dir", str(case.state)]
            args += ["--http-listen", f"127.0.0.1:{port}", "--http-token", "env:PAGE_TOKEN"]
            with watch_process(args, env, work) as w:
                first = w.wait_run(lambda r: "start" in r["trigger"], timeout=60)
                assert first["result"] == "converged", first
                # a buyer opens a session on the chat bid: the page shows it live, and today's earnings
                market = case.market()
                ids, _ = market.functions.getProviderActiveBids(case.provider, 0, 10).call()
                bid_id = next(b for b in ids if int(market.functions.getBid(b).call()[2]) == 6 * 10**15)
                chat = "0x" + bytes(market.functions.getBid(bid_id).call()[1]).hex()
                stake = sessions_devnet.stake_for_duration(case.w3, info["diamond"], bid_id, 3600)
                m = w.mark()
                buyer = info["accounts"][8]["address"]
                sessions_devnet.open_session(case.w3, info["diamond"], buyer, case.key(1), bid_id, stake)
                w.wait_run(lambda r: "timer" in r["trigger"], m)  # a session is no event of the provider's
                w.mark()
                _check_in_browser(tmp_path, port, case, w, yaml, env, provider_dir, chat)
                assert w.terminate() == 0


def _check_in_browser(
    tmp_path: Path, port: int, case: DevnetCase, w: Any, yaml: Path, env: dict[str, str], pdir: Path, chat: str
) -> None:
    from selenium.webdriver.common.by import By

    base = f"http://127.0.0.1:{port}"
    driver = _browser(tmp_path / "chromium-profile")
    try:
        driver.set_page_load_timeout(30)
        driver.get(base + "/")
        assert driver.current_url.endswith("/login")
        driver.find_element(By.ID, "token").send_keys(PAGE_TOKEN)
        driver.find_element(By.CSS_SELECTOR, "form button").click()
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#rows tr.row"), "the page after signing in")
        cookie = driver.get_cookie("reconcile_watch")
        assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert driver.execute_script("return document.cookie") == ""  # HttpOnly: invisible to scripts

        # the rows and states match the plan: nothing pending, so every row is in sync
        os.environ.update(env)
        try:
            desired, plan = make_plan(yaml, env)
        finally:
            for k in env:
                os.environ.pop(k, None)
        assert plan.pending == ()
        rows = _rows(driver)
        assert set(rows) == {"provider"} | {norm_hex(m.model_id) for m in desired.models}
        assert {r["state"] for r in rows.values()} == {"in sync"}, rows
        assert rows[norm_hex(chat)]["forwarder"] == "in sync" and rows["provider"]["router"] == "n/a"

        # the chart: one point per day with data (three seeded days, and today: the first apply's spend and the
        # live session's earnings)
        days = {day for day, f in daily.load(pdir / daily.FILE).items() if f.earned_wei or f.spent_wei}
        assert len(days) == 4
        points = driver.find_elements(By.CSS_SELECTOR, "#chart g.point")
        assert sorted(p.get_attribute("data-day") for p in points) == sorted(days)
        # sessions and the forwarder (sampled from its /metrics)
        live = driver.find_element(By.CSS_SELECTOR, f'#sessions tr[data-model-id="{norm_hex(chat)}"]')
        assert live.find_elements(By.TAG_NAME, "td")[1].text == "1"
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, "#forwarder tr[data-model-id]"), "forwarder slots")
        assert "MOR" in driver.find_element(By.ID, "budget").text

        # a price edit while suspended: pending, then in sync once resumed, without a reload
        driver.execute_script("window.__noReload = 42;")
        _reconcile(case.work, "watch", "--suspend", "--state-dir", str(case.state))
        m = w.mark()
        case.edit('pricePerSecond: "0.006 MOR"', 'pricePerSecond: "0.008 MOR"')
        w.wait_run(lambda r: r["result"] == "drift-reported", m)
        row = _wait(lambda: (r := _rows(driver)[norm_hex(chat)])["state"] == "pending" and r, "the pending row")
        assert row["chain"] == "pending" and row["desired"] == "declared"
        if os.environ.get("UPDATE_SCREENSHOT"):
            driver.save_screenshot(str(ROOT / "docs" / "status-page.png"))
        m = w.mark()
        _reconcile(case.work, "watch", "--resume", "--state-dir", str(case.state))
        w.wait_run(lambda r: r["result"] == "converged", m)
        _wait(lambda: _rows(driver)[norm_hex(chat)]["state"] == "in sync", "the row in sync again")
        assert driver.execute_script("return window.__noReload") == 42
        assert int(driver.find_element(By.ID, "page").get_attribute("data-refreshed")) > 1
        runs = driver.find_elements(By.CSS_SELECTOR, "#runs tr.run")
        assert any("converged" in r.text for r in runs) and any("drift-reported" in r.text for r in runs)
        driver.save_screenshot(str(tmp_path / "page.png"))

        # no secret on the page or in its data endpoint
        page = driver.page_source
        driver.get(base + "/api/status")
        data = driver.find_element(By.TAG_NAME, "body").text
        doc = json.loads(data)
        assert doc["ready"] and doc["runs"]
        for secret in (PAGE_TOKEN, ADMIN, UPSTREAM, case.key(1)[2:], case.info["rpcUrl"]):
            assert secret not in page and secret not in data
    finally:
        driver.quit()


WIDTHS = (360, 820, 1400)


def test_the_page_fits_the_window_from_360_px_up(tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    inputs = glance_inputs()

    def doc(runs: int | None = 20) -> dict[str, Any]:
        return build_page(dataclasses.replace(inputs, runs_shown=runs))

    server = WatchServer(WatchMetrics(), "127.0.0.1", 0, page=doc).start()
    driver = _browser(tmp_path / "chromium-profile")
    try:
        driver.set_page_load_timeout(30)
        for path, runs in (("/", 20), ("/?runs=all", 25)):
            driver.get(f"http://127.0.0.1:{server.port}{path}")
            assert len(driver.find_elements(By.CSS_SELECTOR, "#runs tr.run")) == runs
            assert driver.find_elements(By.CSS_SELECTOR, f'[title="{LONG_ID}"]')  # the full id on hover
            for width in WIDTHS:
                driver.set_window_size(width, 900)
                inner, scroll = driver.execute_script(
                    "return [window.innerWidth, document.documentElement.scrollWidth]"
                )
                assert inner <= width and scroll <= inner, (path, width, inner, scroll)
            if runs == 20:
                more = driver.find_element(By.CSS_SELECTOR, 'a[href="/?runs=all"]')
                assert "25" in more.text
    finally:
        driver.quit()
        server.stop()
