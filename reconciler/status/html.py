"""The status page as HTML: the page document (reconciler.status.page) rendered on the server.

Why plain server-rendered HTML: no CDN, no framework and no network; the same string is the served page, its
refreshes (`render_body`, swapped in by the small same-origin script below) and `reconcile status --format html`
(one self-contained snapshot with no script). Every value is escaped, its control and bidi characters shown as
`\x1b` or `\u202e` (reconciler.render.controls); the document never holds a secret.

Laid out to read at a glance, from a phone up: the runs first (newest first, the last 20, a link to the rest), a
warning or error repeated on many runs said once with its count, long hex ids shortened with the full value on
hover, cells that break anywhere and tables that stack under 700 px, so the document is never wider than the
window; the day chart only once there is a day to draw.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html import escape
from typing import Any

from reconciler.render.controls import escape_controls
from reconciler.status.chart import chart

STYLE = """
:root { --ok:#2f9e44; --pend:#1971c2; --held:#e67700; --drain:#7048e8; --unm:#868e96; --err:#e03131; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #212529;
       background: #f1f3f5; }
header { background: #212529; color: #f8f9fa; padding: 12px 24px; display: flex; gap: 24px; align-items: baseline;
         flex-wrap: wrap; }
header h1 { font-size: 18px; margin: 0; }
header .meta { color: #ced4da; font-size: 13px; }
main { padding: 16px 24px; display: grid; gap: 16px;
       grid-template-columns: repeat(auto-fit, minmax(min(520px, 100%), 1fr)); }
section { background: #fff; border-radius: 6px; padding: 12px 16px; box-shadow: 0 1px 2px rgba(0,0,0,.08);
          min-width: 0; }
td, .detail, .alert, #summary, .note { overflow-wrap: anywhere; }
input { max-width: 100%; }
section.wide { grid-column: 1 / -1; }
h2 { font-size: 15px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e9ecef; vertical-align: top; }
th { font-weight: 600; color: #495057; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 12px; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 12px; color: #fff;
         background: var(--unm); white-space: nowrap; }
.s-in-sync { background: var(--ok); } .s-pending { background: var(--pend); } .s-held { background: var(--held); }
.s-draining { background: var(--drain); } .s-unmanaged, .s-n-a, .s-undeclared { background: var(--unm); }
.s-error, .s-down { background: var(--err); } .s-up { background: var(--ok); } .s-degraded { background: var(--held); } .s-declared { background: #495057; } .s-absent { background: #343a40; }
.detail { color: #495057; font-size: 12px; margin-top: 2px; }
.alerts { grid-column: 1 / -1; display: grid; gap: 6px; }
.alert { background: #fff4e6; border-left: 4px solid var(--held); padding: 6px 12px; border-radius: 4px; }
.alert.e-writer-conflict, .alert.e-low-funds, .alert.e-error { background: #fff5f5; border-color: var(--err); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(130px, 1fr)); gap: 8px; margin-bottom: 10px; }
.card { background: #f8f9fa; border-radius: 6px; padding: 8px 10px; }
.card .v { font-size: 17px; font-weight: 600; } .card .k { color: #495057; font-size: 12px; }
.r-converged, .r-no-changes { color: var(--ok); }
.r-drift-reported, .r-held, .r-blocked-manual { color: var(--pend); }
.r-failed, .r-not-converged, .r-budget-exceeded, .r-invalid-desired-state, .r-git-blocked { color: var(--err); }
svg.chart { width: 100%; max-width: 760px; height: auto; display: block; } svg .grid { stroke: #e9ecef; } svg .axis { font-size: 11px; fill: #495057; }
.muted { color: #868e96; } .id { white-space: nowrap; } .note { margin: 0 0 6px; color: #495057; }
@media (max-width: 700px) {
  header { padding: 10px 12px; } main { padding: 8px; gap: 8px; } section { padding: 10px; }
  table.stack, table.stack tbody, table.stack tr, table.stack td { display: block; width: 100%; }
  table.stack tr.head { display: none; }
  table.stack tr { border-bottom: 1px solid #dee2e6; padding: 4px 0; }
  table.stack td { border: 0; padding: 1px 4px; }
  table.stack td:empty { display: none; }
  table.stack td[data-label]::before { content: attr(data-label) ": "; color: #868e96; font-size: 12px; }
  table.stack td[data-place]::before { content: attr(data-place) ": "; color: #868e96; font-size: 12px; }
}
"""

REFRESH_SCRIPT = """// Refreshes the page's body from /fragment without a reload (same origin, the login cookie).
(function () {
  var main = document.getElementById("page");
  var every = Number(main.getAttribute("data-refresh")) || 2000;
  var count = 0;
  function tick() {
    fetch("/fragment" + window.location.search, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      if (r.status === 401) { window.location.assign("/login"); return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html !== null && html !== undefined) {
        main.innerHTML = html;
        count += 1;
        main.setAttribute("data-refreshed", String(count));
      }
    }).catch(function () {}).then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
"""


def _e(value: Any) -> str:
    return escape(escape_controls("" if value is None else str(value)))


LONG_HEX = re.compile(r"0x[0-9a-fA-F]{24,}")


def _ids(value: Any) -> str:
    """Escaped text whose long hex ids (66-character model and bid ids, hashes, addresses) are shortened to
    `0x12345678…cdef`, the full value on hover."""
    text = "" if value is None else str(value)
    out, at = [], 0
    for m in LONG_HEX.finditer(text):
        full = m.group()
        out.append(_e(text[at : m.start()]) + f'<span class="id" title="{full}">{full[:10]}…{full[-4:]}</span>')
        at = m.end()
    return "".join(out) + _e(text[at:])


def _cls(state: str) -> str:
    return "s-" + state.replace(" ", "-").replace("/", "-")


def _badge(state: str) -> str:
    return f'<span class="badge {_cls(state)}">{_e(state)}</span>'


def _place_cell(name: str, p: Mapping[str, Any]) -> str:
    state = str(p.get("state", ""))
    detail = p.get("detail") or ""
    if state == "draining":
        extra = f"{p.get('sessions', 0)} live session(s)"
        if p.get("untilTime"):
            extra += f", until {p['untilTime']}"
        detail = f"{extra}; {detail}" if detail else extra
    inner = _badge(state) + (f'<div class="detail">{_ids(detail)}</div>' if detail else "")
    return f'<td data-place="{_e(name)}" data-state="{_e(state)}">{inner}</td>'


def _rows(doc: Mapping[str, Any]) -> str:
    out = [
        '<section class="wide"><h2>Provider and models</h2><table id="rows" class="stack"><tr class="head">'
        "<th>name</th><th>state</th><th>desired</th><th>chain</th><th>forwarder</th><th>router</th></tr>"
    ]
    for r in doc.get("rows", []):
        ident = _e(r["id"])
        out.append(
            f'<tr class="row" data-kind="{_e(r["kind"])}" data-id="{ident}" data-state="{_e(r["state"])}">'
            f'<td><b>{_e(r["name"])}</b><div class="detail mono">{_ids(r["id"])}</div></td>'
            f'<td data-label="state">{_badge(r["state"])}</td>'
        )
        out.extend(_place_cell(k, r["places"][k]) for k in ("desired", "chain", "forwarder", "router"))
        out.append("</tr>")
    out.append("</table>")
    out.extend(f'<div class="alert e-error">plan error: {_ids(e)}</div>' for e in doc.get("planErrors", []))
    out.append("</section>")
    return "".join(out)


def _card(key: str, value: str, ident: str) -> str:
    return f'<div class="card" id="{ident}"><div class="v">{_e(value)}</div><div class="k">{_e(key)}</div></div>'


def _money(doc: Mapping[str, Any]) -> str:
    m = doc.get("money") or {}
    cards = "".join(
        _card(label, m[key]["mor"], "m-" + key)
        for key, label in (
            ("earnedToday", "earned today (UTC)"),
            ("earnedWeek", "earned, last 7 days"),
            ("claimable", "claimable now"),
            ("capRoom", "room under the stake cap"),
        )
        if key in m
    )
    rows = "".join(
        f'<tr data-model-id="{_e(s["modelId"])}"><td>{_e(s["name"])}</td><td data-label="live">{_e(s["live"])}</td>'
        f'<td data-label="last one ends">{_e(s["untilTime"] or "—")}</td>'
        f'<td data-label="earned today">{_e(s["earnedToday"]["mor"])}</td></tr>'
        for s in doc.get("sessions", [])
    )
    return (
        f'<section><h2>Sessions and money</h2><div class="cards">{cards}</div>'
        f'<table id="sessions" class="stack"><tr class="head"><th>model</th><th>live sessions</th><th>last one ends</th><th>earned today</th></tr>'
        f"{rows}</table></section>"
    )


def _num(v: Any, unit: str = "") -> str:
    return "—" if v is None else f"{v}{unit}"


HEALTH_STATES = ("up", "degraded", "down", "unknown")


def _health(doc: Mapping[str, Any]) -> str:
    """The forwarder, the router and each model's upstream as the watcher's last run judged them (a red `down`)."""
    h = doc.get("health")
    if not h:
        return ""
    parts = [("forwarder", "forwarder", h.get("forwarder")), ("router", "router", h.get("router"))]
    parts += [("upstream", f"upstream of {m}", x) for m, x in sorted((h.get("upstreams") or {}).items())]
    rows = "".join(
        f'<tr data-part="{_e(part)}" data-state="{_e(x.get("state", ""))}"><td>{_ids(name)}</td>'
        f'<td data-label="state">{_badge(str(x.get("state")) if x.get("state") in HEALTH_STATES else "unknown")}</td>'
        f'<td data-label="why">{_ids(x.get("why") or "")}</td></tr>'
        for part, name, x in parts
        if isinstance(x, Mapping)
    )
    return (
        f'<p class="note" id="health-age">as the watcher\'s last run judged them, {_e(h.get("age", ""))} ago</p>'
        '<table id="health" class="stack"><tr class="head"><th>what serves</th><th>state</th><th>why</th></tr>'
        f"{rows}</table>"
    )


def _forwarder(doc: Mapping[str, Any]) -> str:
    f = doc.get("forwarder") or {}
    rows = "".join(
        f'<tr data-model-id="{_e(x["modelId"])}"><td>{_e(x["name"])}</td>'
        f'<td data-label="slots">{_e(x["inFlight"])} / {_e(x["limit"] or "unlimited")}</td>'
        f'<td data-label="requests/min">{_e(_num(x["requestsPerMinute"]))}</td>'
        f'<td data-label="errors/min">{_e(_num(x["errorsPerMinute"]))}</td>'
        f'<td data-label="latency p50">{_e(_num(x["latencyP50Ms"], " ms"))}</td></tr>'
        for x in f.get("models", [])
    )
    note = f'<div class="detail">{_ids(f["note"])}</div>' if f.get("note") else ""
    if f.get("stale"):
        note = (
            f'<div class="alert e-error" id="forwarder-stale">figures not current, last seen '
            f"{_e(f['stale']['lastSeenAgo'])} ago: {_ids(f.get('note'))}</div>"
        )
    return (
        f'<section><h2>Forwarder</h2>{_health(doc)}<table id="forwarder" class="stack"><tr class="head"><th>model</th><th>slots in use</th><th>requests/min</th>'
        f"<th>errors/min</th><th>latency p50</th></tr>{rows}</table>{note}</section>"
    )


def _margins(doc: Mapping[str, Any]) -> str:
    """Each model's margin per UTC day, newest day first (reconciler.status.margins)."""
    section = doc.get("margins") or {}
    days = list(section.get("days") or [])[::-1]
    if not days:
        return ""

    def usd(v: Any) -> str:
        return "—" if v is None else f"{v} USD"

    rows = "".join(
        f'<tr data-day="{_e(d["day"])}" data-model-id="{_e(m["modelId"])}"><td>{_e(d["day"])}</td>'
        f"<td>{_e(m['name'])}</td>"
        f'<td data-label="earned">{_e(m["earned"]["mor"])}<div class="detail">{_e(usd(m["earnedUsd"]))}</div></td>'
        f'<td data-label="upstream cost">{_e(usd(m["upstreamCostUsd"]))}'
        f'<div class="detail">{_e(m["costBasis"] or "no cost model")}</div></td>'
        f'<td data-label="margin">{_e(usd(m["marginUsd"]))}</td>'
        f'<td data-label="tokens">{_e(m["tokens"]["prompt"])} prompt, {_e(m["tokens"]["completion"])} completion'
        f'<div class="detail">{_e(m["tokens"]["cached"])} cached, {_e(m["tokens"]["cacheWrite"])} cache writes</div></td>'
        f'<td data-label="served">{_e(m["servedSeconds"])} s</td>'
        f'<td data-label="slots busy">{_e(_num(None if m["slotUtilisation"] is None else round(100 * m["slotUtilisation"], 2), " %"))}</td></tr>'
        for d in days
        for m in d["models"]
    )  # fmt: skip
    return (
        '<section class="wide"><h2>Margins per model and day (UTC)</h2>'
        f'<p class="note">usage from {_ids(section.get("usageSource", ""))}; USD at each cost model\'s morUsd</p>'
        '<table id="margins" class="stack"><tr class="head"><th>day</th><th>model</th><th>earned</th>'
        "<th>upstream cost</th><th>margin</th><th>tokens</th><th>served</th><th>slots busy</th></tr>"
        f"{rows}</table></section>"
    )


def _market(doc: Mapping[str, Any]) -> str:
    """Each model's best bids as buyers' routers rank them, and our rank (`reconcile market` has every bid)."""
    models = doc.get("market")
    if not models:
        return ""
    weights = doc.get("marketWeights") or "the router's default weights"  # the host's, as the plan ranks
    parts = []
    for m in models:
        rows = "".join(
            f'<tr data-rank="{_e(b["rank"])}" data-ours="{str(b["ours"]).lower()}"><td>#{_e(b["rank"])}</td>'
            f'<td data-label="provider">{_ids(b["provider"])}{" (ours)" if b["ours"] else ""}</td>'
            f'<td data-label="MOR/s">{_e(b["price"])}</td><td data-label="quality">{_e(b["quality"])}</td>'
            f'<td data-label="score">{_e(b["score"])}</td></tr>'
            for b in m["bids"]
        )
        parts.append(
            f'<div data-model-id="{_e(m["modelId"])}"><p class="note"><b>{_e(m["name"])}</b>: {_e(m["bidCount"])} '
            f'bid(s); {_e(m["ours"])}</p><table class="stack"><tr class="head"><th>rank</th><th>provider</th>'
            f"<th>price</th><th>quality</th><th>score</th></tr>{rows}</table>"
            + (f'<p class="note unread">{_e(m["unreadNote"])}</p>' if m.get("unreadNote") else "")
            + "</div>"
        )
    return (
        '<section id="market"><h2>Market (as buyers\' routers rank it)</h2>'
        f'<p class="note">score = quality / (price in MOR/s), {_e(weights)}</p>'
        f"{''.join(parts)}</section>"
    )


def _folded(runs: list[Mapping[str, Any]]) -> list[str]:
    """Each run's error and warning lines, newest first; a line repeated on several runs is said once, on the
    newest, with how many runs carried it."""
    seen: dict[str, int] = {}
    for r in runs:
        for line in _notes(r):
            seen[line] = seen.get(line, 0) + 1
    said: set[str] = set()
    out = []
    for r in runs:
        html = []
        for line in _notes(r):
            if line in said:
                continue
            said.add(line)
            kind = line.split(":", 1)[0]
            again = f' <span class="muted">(the same {kind} on {seen[line]} runs)</span>' if seen[line] > 1 else ""
            html.append(f'<div class="detail">{_ids(line)}{again}</div>')
        out.append("".join(html))
    return out


def _notes(run: Mapping[str, Any]) -> list[str]:
    lines = [f"error: {run['error']}"] if run.get("error") else []
    return lines + [f"warning: {w}" for w in run.get("warnings") or []]


def _runs_note(doc: Mapping[str, Any], live: bool) -> str:
    shown, known = len(doc.get("runs", [])), int(doc.get("runsKnown") or 0)
    if doc.get("allRuns"):
        back = ' · <a href="/">the last 20 only</a>' if live else ""
        return f'<p class="note">all {known} runs kept, newest first{back}</p>'
    if known <= shown:
        return '<p class="note">newest first</p>'
    more = (
        f'<a href="/?runs=all">all {known} runs</a>'
        if live
        else f"{known} runs in all: the watcher's page lists them all, as does watch-runs.jsonl in its --state-dir"
    )
    return f'<p class="note">the last {shown} of {known} runs, newest first · {more}</p>'


def _runs(doc: Mapping[str, Any], live: bool = True) -> str:
    b = doc.get("budget")
    budget = (
        f'<div class="detail" id="budget">day\'s budget left: <b>{_e(b["left"]["mor"])}</b> of {_e(b["limit"]["mor"])} '
        f"(spent in the last 24 h: {_e(b['spentLastDay']['mor'])})</div>"
        if b
        else '<div class="detail" id="budget">no daily budget (policy.maxSpendPerDay)</div>'
    )
    runs = list(doc.get("runs", []))
    rows = []
    for r, notes in zip(runs, _folded(runs), strict=True):
        txs = " ".join(
            f'<a class="mono" href="{_e(t["url"])}" title="{_e(t["hash"])}" target="_blank" '
            f'rel="noopener noreferrer">{_e(t["hash"][:10])}…</a>'
            if t.get("url")
            else f'<span class="mono" title="{_e(t["hash"])}">{_e(t["hash"][:10])}…</span>'
            for t in r["txs"]
        ) or (_e(r["txCount"]) if r["txCount"] else "")
        actions = ", ".join(_ids(a) for a in r["actions"][:4])
        actions += f" … +{len(r['actions']) - 4}" if len(r["actions"]) > 4 else ""
        rows.append(
            f'<tr class="run"><td class="id" title="{_e(r["time"])}">{_e(r["time"][11:19])}</td>'
            f'<td data-label="trigger">{_e(", ".join(r["trigger"]))}</td>'
            f'<td class="r-{_e(r["result"])}">{_e(r["result"])}{notes}</td>'
            f'<td class="mono" data-label="actions">{actions}</td><td data-label="transactions">{txs}</td>'
            f'<td data-label="MOR spent">{_e(r["morSpent"]["mor"] if r["morSpent"]["wei"] else "")}</td>'
            f'<td data-label="alerts">{_e(", ".join(r["alerts"]))}</td></tr>'
        )
    return (
        f'<section class="wide"><h2>Last runs of the watcher</h2>{_runs_note(doc, live)}{budget}'
        '<table id="runs" class="stack"><tr class="head"><th>UTC</th><th>trigger</th><th>result</th><th>actions</th>'
        "<th>transactions</th><th>MOR spent</th><th>alerts</th></tr>" + "".join(rows) + "</table></section>"
    )


def _chart(doc: Mapping[str, Any]) -> str:
    """The day chart, or one line while no day has figures (a first day draws an empty 30-day frame)."""
    days = doc.get("chart", [])
    if not any(d.get("hasData") for d in days):
        return (
            '<section class="wide"><p class="note" id="chart">Earned and spent per day: no earnings or spend '
            "recorded yet (the chart of the last 30 days appears with the first day's figures).</p></section>"
        )
    return (
        '<section class="wide"><h2>Earned and spent per day, last 30 days (UTC)</h2>'
        f'<div id="chart">{chart(days)}</div></section>'
    )


def _fleet(fleet: Mapping[str, Any] | None) -> str:
    """A fleet member's page: the other providers of the fleet, each a link to its watcher's page where declared."""
    if not fleet or not fleet["others"]:
        return ""
    others = " · ".join(
        f'<a href="{_e(o["url"])}" rel="noopener">{_e(o["name"])}</a>'
        if o["url"]
        else f'{_e(o["name"])} <span class="muted">(no page declared)</span>'
        for o in fleet["others"]
    )
    return (
        f'<section class="wide" id="fleet"><b>fleet</b> this page: {_e(fleet["provider"])} · others: {others}</section>'
    )


def render_body(doc: Mapping[str, Any], live: bool = True) -> str:
    """The page's content (what a refresh swaps in); `live`: served by the watcher (links to its other views)."""
    if not doc.get("ready"):
        head = '<section class="wide"><h2>Waiting for the first run</h2><p class="muted">The watcher has not observed '
        return head + f"the chain yet.</p></section>{_runs(doc, live)}"
    p = doc["provider"]
    w = doc.get("watcher") or {}
    mode = w.get("mode", "report")
    alerts = "".join(f'<div class="alert e-{_e(a["event"])}">{_ids(a["text"])}</div>' for a in doc.get("alerts", []))
    if doc.get("lastError"):
        alerts += f'<div class="alert e-error">last run failed: {_ids(doc["lastError"])}</div>'
    fleet = doc.get("fleet")
    named = f"<b>{_e(fleet['provider'])}</b> " if fleet else ""
    summary = (
        f'<section class="wide" id="summary"><b>provider</b> {named}<span class="mono">{_ids(p["address"])}</span> on '
        f"<b>{_e(doc['network'])}</b> (chain {_e(doc['chainId'])}) at block {_e(doc['block']['number'])}, "
        f"{_e(doc['block']['time'])} · mode <b>{_e(mode)}</b> · stake {_e(p['stake']['mor'])} · "
        f"{_e(doc['liveSessions'])} live session(s) · updated {_e(doc['generatedAt'])}</section>"
    )
    alerts_html = f'<div class="alerts">{alerts}</div>' if alerts else ""
    return (
        summary
        + _fleet(fleet)
        + alerts_html
        + _runs(doc, live)
        + _rows(doc)
        + _money(doc)
        + _forwarder(doc)
        + _market(doc)
        + _margins(doc)
        + _chart(doc)
    )


def render_page(doc: Mapping[str, Any], script: str | None = None, refresh: float = 2.0) -> str:
    """A whole page; with `script` (the served page) it refreshes itself, without it is one static snapshot."""
    tag = f'<script src="{_e(script)}" defer></script>' if script else ""
    meta = (
        "read-only; refreshes by itself"
        if script
        else f"a snapshot taken {_e(doc.get('generatedAt', ''))}: it does not refresh (the watcher's page does)"
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>reconcile · provider status</title><style>{STYLE}</style>{tag}</head><body>"
        f'<header><h1>reconcile · provider status</h1><span class="meta">{meta}</span></header>'
        f'<main id="page" data-refresh="{int(refresh * 1000)}">{render_body(doc, live=script is not None)}</main>'
        "</body></html>\n"
    )


def render_login(wrong: bool = False) -> str:
    """The token form: posted once, it sets an HttpOnly, SameSite=Strict cookie."""
    msg = '<p class="alert e-error">wrong token</p>' if wrong else ""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>reconcile · sign in</title>'
        f"<style>{STYLE}</style></head><body><header><h1>reconcile · provider status</h1></header>"
        '<main><section><h2>Token</h2><p class="muted">The watcher\'s HTTP token (its --http-token).</p>'
        f'{msg}<form method="post" action="/login"><input type="password" name="token" id="token" '
        'autocomplete="current-password" required autofocus size="40"> <button type="submit">Open</button></form>'
        "</section></main></body></html>\n"
    )
