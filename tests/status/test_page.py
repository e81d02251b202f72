"""The status page's pure parts without a chain or a server: rows and states from plans, day figures, the
forwarder's rates, the page document (explorer links, budget, alerts) and its HTML (escaped, one chart point
per day with data)."""

from __future__ import annotations

import time
from dataclasses import replace

from reconciler.market import ids
from reconciler.market.ids import norm_hex
from reconciler.observe.model import BidState, LiveSession, ModelState, SessionState
from reconciler.plan.planner import plan
from reconciler.status import daily, places
from reconciler.status.forwarder_figures import figures, parse
from reconciler.status.html import render_body, render_page
from reconciler.status.page import Observation, PageInputs, WatcherStatus, build_page
from tests.plan.test_planner import converged_world
from tests.support.hostile_text import TERMINAL_NAME, inert
from tests.support.planfactory import MOR, NOW, PROVIDER, desired_from

DAY = 86_400


def _rows(desired_text: dict[str, str] | None = None, now: int = NOW + 7200, chain_edit=None):  # type: ignore[no-untyped-def]
    _d, o = converged_world()
    if chain_edit is not None:
        o = replace(o, chain=chain_edit(o.chain))
    d = desired_from(**(desired_text or {}))
    o = replace(o, now=now)
    p = plan(d, o)
    return d, p, o, {r["name"]: r for r in places.rows(d, p, o.chain)}


def test_a_converged_provider_is_in_sync_everywhere() -> None:
    d, p, _o, rows = _rows()
    assert p.pending == ()
    assert list(rows) == ["provider", "llama", "qwen"]
    assert all(r["state"] == "in sync" for r in rows.values())
    assert rows["llama"]["places"]["desired"]["detail"] == "bid 36 MOR/h"
    assert rows["llama"]["places"]["router"]["state"] == "n/a"  # no router in this desired state
    assert rows["llama"]["id"] == norm_hex(d.models[0].model_id)


def test_a_price_change_is_pending_on_chain_only() -> None:
    _d, _p, _o, rows = _rows({'pricePerSecond: "0.01 MOR"': 'pricePerSecond: "0.012 MOR"'})
    llama = rows["llama"]
    assert llama["state"] == "pending" and llama["places"]["chain"]["state"] == "pending"
    assert "replaces bid" in llama["places"]["chain"]["detail"]
    assert llama["places"]["forwarder"]["state"] == "in sync" and rows["qwen"]["state"] == "in sync"
    assert rows["provider"]["state"] == "pending"  # the MOR allowance for the fee


def test_held_says_why() -> None:
    _d, _p, _o, rows = _rows({'pricePerSecond: "0.01 MOR"': 'pricePerSecond: "0.0104 MOR"'})
    held = rows["llama"]["places"]["chain"]
    assert rows["llama"]["state"] == "held" and "4.00%" in held["detail"]


def test_draining_counts_sessions_and_says_until_when() -> None:
    d0, _ = converged_world()
    qwen = d0.models[1].model_id

    def live(chain):  # type: ignore[no-untyped-def]
        bids = tuple(
            replace(b, live_sessions=(LiveSession("0x" + "01" * 32, NOW + 600),)) if b.model_id == qwen else b
            for b in chain.bids
        )
        return replace(chain, bids=bids)

    absent = {"    upstreamModel: qwen-2.5\n": "    upstreamModel: qwen-2.5\n    absent: true\n"}
    _d, _p, _o, rows = _rows(absent, now=NOW, chain_edit=live)
    q = rows["qwen"]
    assert q["places"]["desired"]["state"] == "absent"
    assert q["places"]["chain"]["state"] == "pending"  # its bid is deleted now
    fwd = q["places"]["forwarder"]
    assert fwd["state"] == "draining" and fwd["until"] == NOW + 600 and fwd["sessions"] == 1
    assert "draining until" in fwd["detail"] and fwd["untilTime"].endswith("UTC")


def test_what_only_the_chain_has_is_an_unmanaged_row() -> None:
    stray = ids.model_id(PROVIDER, "0x" + "77" * 32)

    def add(chain):  # type: ignore[no-untyped-def]
        bid = BidState(ids.bid_id(PROVIDER, stray, 0), PROVIDER, stray, 10**16, 0, NOW - 10)
        model = ModelState(stray, PROVIDER, "by-hand", ("llm",), 0, MOR // 10)
        return replace(chain, models=(*chain.models, model), bids=(*chain.bids, bid))

    _d, p, _o, rows = _rows(chain_edit=add)
    assert p.pending == ()
    r = rows["by-hand"]
    assert r["state"] == "unmanaged" and r["places"]["desired"]["state"] == "undeclared"
    assert r["places"]["chain"]["state"] == "unmanaged"


def test_an_error_is_the_worst_state() -> None:
    _d, _p, _o, rows = _rows({'    stake: "0.1 MOR"\n    bid:\n      pricePerSecond: "0.01 MOR"': (
        '    stake: "0.05 MOR"\n    bid:\n      pricePerSecond: "0.01 MOR"')})  # fmt: skip
    assert rows["llama"]["state"] == "error" and rows["llama"]["places"]["chain"]["detail"]


def _session(opened: int, ends: int, price: int, closed: int = 0) -> SessionState:
    return SessionState(
        "0x" + "aa" * 32, "0x" + "bb" * 32, "0x" + "cc" * 32, PROVIDER, MOR, price, 0, opened, ends, closed
    )


def test_day_figures_split_sessions_at_midnight_and_only_grow() -> None:
    _d, o = converged_world()
    midnight = NOW - NOW % DAY
    chain = replace(o.chain, block_timestamp=midnight + 100, sessions=(_session(midnight - 50, midnight + 1000, 3),))
    earned = daily.earned_by_day(chain)
    assert earned == {daily.day_of(midnight - 1): 150, daily.day_of(midnight): 300}
    days = daily.merge({}, earned)
    days = daily.merge(days, {daily.day_of(midnight - 1): 10}, spent=7, now=midnight + 5)  # an older reading
    assert days[daily.day_of(midnight - 1)] == daily.DayFigures(150, 0)
    assert days[daily.day_of(midnight)] == daily.DayFigures(300, 7)
    last = daily.last_days(days, midnight + 5)
    assert len(last) == 30 and last[-1][0] == daily.day_of(midnight) and last[-2][1].earned_wei == 150


def test_day_figures_survive_a_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "p" / daily.FILE
    daily.seed(path, [("2026-11-01", 5, 6)])
    assert daily.load(path) == {"2026-11-01": daily.DayFigures(5, 6)}
    path.write_text("{torn")
    assert daily.load(path) == {}


def test_forwarder_rates_and_p50_from_two_samples() -> None:
    def text(n: int, errors: int, fast: int, slow: int) -> str:
        return (
            f'morpheus_proxy_requests_total{{model="chat",model_id="0xAB",status="200"}} {n}\n'
            f'morpheus_proxy_requests_total{{model="chat",model_id="0xab",status="502"}} {errors}\n'
            'morpheus_proxy_in_flight{model="chat",model_id="0xab"} 3\n'
            'morpheus_proxy_capacity{model="chat",model_id="0xab"} 4\n'
            f'morpheus_proxy_request_duration_seconds_bucket{{model="chat",model_id="0xab",le="0.1"}} {fast}\n'
            f'morpheus_proxy_request_duration_seconds_bucket{{model="chat",model_id="0xab",le="0.5"}} {fast + slow}\n'
            f'morpheus_proxy_request_duration_seconds_bucket{{model="chat",model_id="0xab",le="+Inf"}} {fast + slow}\n'
        )

    old, new = parse(text(100, 2, 50, 52), 1000.0), parse(text(160, 8, 50, 118), 1030.0)
    (f,) = figures([old, new])
    assert f["modelId"] == "0xab" and f["inFlight"] == 3 and f["limit"] == 4
    assert f["requestsPerMinute"] == 132.0 and f["errorsPerMinute"] == 12.0  # 66 and 6 in 30 s
    assert 100 < f["latencyP50Ms"] <= 500  # all the new requests were slow
    (only,) = figures([new])
    assert only["requestsPerMinute"] is None and only["inFlight"] == 3


def _inputs(chain_id: int, **kw) -> PageInputs:  # type: ignore[no-untyped-def]
    d, o = converged_world()
    o = replace(o, chain=replace(o.chain, chain_id=chain_id))
    p = plan(d, o)
    run = {"event": "run", "ts": NOW, "trigger": ["file"], "result": "converged", "txs": 1, "mode": "apply"}
    run |= {"txHashes": ["0x" + "12" * 32], "morSpentWei": str(3 * 10**17), "actions": ["bid.post:0x1"]}
    base = dict(
        now=float(NOW),
        observation=Observation(d, o.chain, p, "net"),
        runs=[run],
        days={daily.day_of(NOW): daily.DayFigures(5, 3), daily.day_of(NOW - 3 * DAY): daily.DayFigures(0, 9)},
        budget_limit=2 * MOR,
        spent_last_day=MOR // 2,
    )
    base.update(kw)
    return PageInputs(**base)  # type: ignore[arg-type]


def test_the_page_document_links_transactions_on_real_networks_only() -> None:
    doc = build_page(_inputs(84532))
    (tx,) = doc["runs"][0]["txs"]
    assert tx["url"] == "https://sepolia.basescan.org/tx/0x" + "12" * 32
    assert build_page(_inputs(31337))["runs"][0]["txs"][0]["url"] is None
    assert doc["budget"]["left"]["wei"] == 3 * MOR // 2
    assert [d["day"] for d in doc["chart"] if d["hasData"]] == [daily.day_of(NOW - 3 * DAY), daily.day_of(NOW)]
    assert doc["rows"][0]["kind"] == "provider" and doc["ready"]


def test_alerts_say_what_stops_the_watcher() -> None:
    w = WatcherStatus(mode="alert-only", writer_conflict=True, failures=2, retry_after=NOW + 20.0)
    w = replace(w, low_funds=("signer ETH 0.001 < 0.01",), suspended=True)
    events = [a["event"] for a in build_page(_inputs(1, watcher=w))["alerts"]]
    assert events == ["low-funds", "writer-conflict", "suspended", "backoff"]
    stopped = replace(w, stopped_after_failures=True)
    assert "stopped applying" in build_page(_inputs(1, watcher=stopped))["alerts"][-1]["text"]


def test_the_html_escapes_everything_and_draws_a_point_per_day_with_data() -> None:
    inputs = _inputs(31337)
    run = dict(inputs.runs[0]) | {"error": "<img src=x onerror=alert(1)>", "result": "failed"}
    carried = dict(inputs.runs[0]) | {"warnings": ["desired.yaml:3 <b>invalid</b>: the last good state was used"]}
    html = render_page(build_page(replace(inputs, runs=[run, carried])))
    assert "<img src=x" not in html and "&lt;img src=x" in html
    assert "warning: desired.yaml:3 &lt;b&gt;invalid&lt;/b&gt;: the last good state was used" in html
    assert html.count('<g class="point"') == 2 and "<script" not in html
    served = render_page(build_page(inputs), script="/page.js")
    assert '<script src="/page.js" defer></script>' in served
    assert 'data-state="in sync"' in render_body(build_page(inputs))
    waiting = render_body(build_page(PageInputs(now=float(NOW), observation=None)))
    assert "Waiting for the first run" in waiting


def test_names_from_chain_reach_the_page_escaped() -> None:
    hostile = ids.model_id(PROVIDER, "0x" + "66" * 32)

    def add(chain):  # type: ignore[no-untyped-def]
        model = ModelState(hostile, PROVIDER, TERMINAL_NAME, (TERMINAL_NAME[:60],), 0, MOR // 10)
        bid = BidState(ids.bid_id(PROVIDER, hostile, 0), PROVIDER, hostile, 10**16, 0, NOW - 10)
        return replace(chain, models=(*chain.models, model), bids=(*chain.bids, bid))

    d, p, o, _rows_by_name = _rows(chain_edit=add)
    run = {"event": "run", "ts": NOW, "trigger": ["file"], "result": "failed", "txs": 0, "mode": "apply"}
    run |= {"error": f"model {TERMINAL_NAME} refused", "warnings": [f"about {TERMINAL_NAME}"], "actions": []}
    inputs = PageInputs(now=float(NOW), observation=Observation(d, o.chain, p, "net"), runs=[run])
    page = render_page(build_page(inputs))
    assert inert(page) and "pwn\\x1b[2J\\x1b]0;pwned\\x07" in page and "\\u202egnp.exe" in page
    assert inert(render_body(build_page(inputs)))


def test_held_and_blocked_runs_are_not_green_and_their_reasons_are_in_force() -> None:
    inputs = _inputs(31337)
    runs = [dict(inputs.runs[0]) | {"result": r, "txHashes": []} for r in ("held", "git-blocked", "blocked-manual")]
    html = render_page(build_page(replace(inputs, runs=runs)))
    css = html.split("</style>")[0]
    for result, colour in (("held", "--pend"), ("git-blocked", "--err"), ("blocked-manual", "--pend")):
        rule = next(line for line in css.splitlines() if f".r-{result}" in line.replace(",", " ").split())
        assert colour in rule.split(f".r-{result}")[1].split("}")[0], (result, rule)
    w = WatcherStatus(mode="apply", git_blocked="no upstream to pull from", held=("bid.post:0xaa: churn guard",))
    alerts = build_page(_inputs(1, watcher=w))["alerts"]
    assert [a["event"] for a in alerts] == ["git-blocked", "held"]
    assert "no upstream to pull from" in alerts[0]["text"]


LONG_ID = "0x" + "5e" * 32  # a model or bid id: 66 characters with no place to break
WARNING = "desired.yaml: invalid (price below the floor): the last good state was used"


def glance_inputs(n: int = 25, **kw) -> PageInputs:  # type: ignore[no-untyped-def]
    """A watcher page after `n` runs (oldest first): the newest 14 carry the same warning, every one a long id."""
    base = _inputs(31337, **kw)
    runs = []
    for k in range(n):
        run = {"event": "run", "ts": NOW + 60 * k, "trigger": ["timer"], "result": "no-changes", "txs": 0}
        run |= {"mode": "apply", "actions": [f"bid.post:{LONG_ID}", f"model.register:{LONG_ID}"]}
        run |= {"warnings": [WARNING]} if k >= n - 14 else {"error": f"bid {LONG_ID} refused"}
        runs.append(run)
    why = f"key refused (401 x3) by the upstream of {LONG_ID}"
    runs[-1] |= {"forwarder": {"state": "up"}, "router": {"state": "down", "why": f"router {LONG_ID} answered 503"}}
    runs[-1] |= {"upstreams": {f"model-{LONG_ID}": {"state": "down", "why": why}}}  # a long name and why fit too
    return replace(base, runs=runs)


def test_the_page_reads_at_a_glance() -> None:
    doc = build_page(glance_inputs())
    page = render_page(doc, script="/page.js")
    # runs first: above the rows and the chart, the newest first, the last 20 with a link to the rest
    assert page.index('id="runs"') < page.index('id="rows"') < page.index('id="chart"')
    assert page.count('<tr class="run"') == 20 and "/?runs=all" in page and "25 runs" in page
    assert page.index(_clock(NOW + 60 * 24)) < page.index(_clock(NOW + 60 * 23))
    # the same warning on 14 runs is said once
    assert page.count(WARNING.split(":")[0] + ": invalid") == 1 and "the same warning on 14 runs" in page
    # long ids shortened, the full value on hover
    assert LONG_ID not in page.replace(f'title="{LONG_ID}"', "")
    assert f'title="{LONG_ID}"' in page and "0x5e5e5e5e…5e5e" in page
    # all runs on request, with no link to more
    every = render_body(build_page(replace(glance_inputs(), runs_shown=None)))
    assert every.count('<tr class="run"') == 25 and "/?runs=all" not in every


def test_the_static_page_says_it_is_a_snapshot_and_hides_an_empty_chart() -> None:
    static = render_page(build_page(glance_inputs(days={})))
    assert "snapshot" in static and "refreshes by itself" not in static and "/?runs=all" not in static
    assert "<svg" not in static and "no earnings or spend recorded yet" in static
    assert "watch-runs.jsonl" in static  # where the older runs are
    served = render_page(build_page(glance_inputs()), script="/page.js")
    assert "refreshes by itself" in served and "snapshot" not in served and "<svg" in served


def _clock(ts: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def test_a_fleet_watchers_page_names_its_provider_and_links_the_other_members_pages() -> None:
    from reconciler.status.page import FleetPlace

    fleet = FleetPlace(
        "base-east",
        (("base-west", "https://b.example.org/status"), ("sepolia-lab", None), ("evil", "javascript:alert(1)")),
    )
    doc = build_page(_inputs(8453, fleet=fleet))
    assert doc["fleet"] == {
        "provider": "base-east",
        "others": [
            {"name": "base-west", "url": "https://b.example.org/status"},
            {"name": "sepolia-lab", "url": None},
            {"name": "evil", "url": None},  # only an http(s) address is a link
        ],
    }
    for html in (render_page(doc), render_page(doc, script="/page.js")):
        assert '<a href="https://b.example.org/status" rel="noopener">base-west</a>' in html
        assert "sepolia-lab" in html and "javascript:" not in html
        assert "<b>base-east</b>" in html
    single = build_page(_inputs(8453))
    assert "fleet" not in single  # a single provider's page is as it was
    assert 'id="fleet"' not in render_page(single)
