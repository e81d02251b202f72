"""The status view: what `reconcile status` and the watcher's status page show, and how.

One reading (`reading.py`, through observe.world) -> the documents (`model.py` for the status screen and JSON,
`page.py` for the page, with `places.py`, `daily.py`, `forwarder_figures.py`) -> the renderers (`text.py`,
`html.py`, `chart.py`); `report.py` gives `reconcile status` its output. The watcher serves the page and
/metrics through `server.py`, guarded by `auth.py`, from what it keeps on a `board.py`. No click here: the
command lives in commands/status.py.
"""
