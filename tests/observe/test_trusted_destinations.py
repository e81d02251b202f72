"""A token goes only to loopback or to a host the operator trusts outside the desired state (issue 26, "Why" row 2).

The forwarder's admin token is what `plan` and `status` send. A real loopback server records every request. To
be honest the test reaches that very server by a name the rule does not take for loopback (the machine's host
name when it resolves to 127.0.0.1 here, else `127.1`, which the resolver maps to 127.0.0.1): given as trusted,
the same name does get the token, so "nothing was sent" is the rule's doing, not an unreachable address.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.desired.model import Desired
from reconciler.observe.proxy import observe_proxy
from reconciler.observe.slots import read_slots
from tests.support.planfactory import desired_from
from tests.support.recorder import Recorder, loopback_alias, recording_server

TOKEN = "admin-token-that-must-stay-home"


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with recording_server() as s:
        yield s


def with_admin(url: str, tmp_path: Path) -> Desired:
    return desired_from(
        **{
            "  modelsConfigPath: /tmp/never-written/forwarder.json": f"  modelsConfigPath: {tmp_path / 'f.json'}\n"
            f"  adminUrl: {url}\n  adminToken: env:ADMIN_TOKEN"
        }
    )


def test_plan_sends_the_admin_token_to_no_untrusted_host(recorder: Recorder, tmp_path: Path) -> None:
    alias = loopback_alias()
    d = with_admin(f"http://{alias}:{recorder.port}", tmp_path)
    state = observe_proxy(d, {"ADMIN_TOKEN": TOKEN})
    assert recorder.requests == []  # nothing was sent at all
    assert state.reachable is False
    assert state.note == f"not checked: {alias} is not a trusted destination"
    # the same name, trusted by the operator (the environment variable): the token does reach it
    state = observe_proxy(d, {"ADMIN_TOKEN": TOKEN, "RECONCILE_TRUSTED_HOSTS": f"other.example, {alias.upper()}"})
    assert state.reachable is True and recorder.tokens() == [f"Bearer {TOKEN}"]


def test_plan_sends_the_admin_token_to_loopback(recorder: Recorder, tmp_path: Path) -> None:
    for host in ("127.0.0.1", "localhost"):
        state = observe_proxy(with_admin(f"http://{host}:{recorder.port}", tmp_path), {"ADMIN_TOKEN": TOKEN})
        assert state.reachable is True
    assert recorder.tokens() == [f"Bearer {TOKEN}"] * 2


def test_status_sends_the_admin_token_to_no_untrusted_host(recorder: Recorder) -> None:
    alias = loopback_alias()
    url = f"http://{alias}:{recorder.port}"
    reading = read_slots(url, TOKEN)
    assert recorder.requests == []
    assert not reading.known and reading.note == f"not checked: {alias} is not a trusted destination"
    reading = read_slots(url, TOKEN, trusted=frozenset({alias}))
    assert reading.known and recorder.tokens() == [f"Bearer {TOKEN}"]
    assert read_slots(f"http://127.0.0.1:{recorder.port}", TOKEN).known


def test_without_a_token_nothing_secret_is_sent_and_the_host_is_asked(recorder: Recorder, tmp_path: Path) -> None:
    """No token, no secret: the rule is about tokens, an admin API open without one is read as before."""
    reading = read_slots(f"http://{loopback_alias()}:{recorder.port}", None)
    assert reading.known and recorder.tokens() == [None]
