"""An alert-only run says what an apply-mode run says about the forwarder: its note line names a proxy that was not
checked (a stopped forwarder) instead of leaving it to the `forwarder` key, the metric and the webhook."""

from __future__ import annotations


def test_alert_only_notes_name_an_unchecked_proxy() -> None:
    from reconciler.apply.run import nothing_sent_note
    from reconciler.watch.record import RunFindings, report_notes
    from reconciler.watch.state import Reported

    unchecked = "proxy not checked (admin /healthz unreachable)"
    assert report_notes((), (), None) == (nothing_sent_note((), None),)
    assert "chain and proxy match" in report_notes((), (), None)[0]
    (note,) = report_notes((), (), unchecked)
    assert unchecked in note and "chain and proxy match" not in note
    assert report_notes(("bid.post:a",), (), unchecked) == (f"not applied (alert-only); {unchecked}",)
    assert report_notes(("bid.post:a",), (), None) == ()
    run = RunFindings(ts=1.0, trigger=("timer",))
    run.outcome = Reported((), (), (), notes=(note,))
    assert run.record().to_json()["notes"] == [note]
