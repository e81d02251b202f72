"""Which hosts a token may go to, as the URL spells them (pure: nothing is resolved)."""

from __future__ import annotations

import pytest

from reconciler.observe.destinations import (
    TRUSTED_HOSTS_ENV,
    is_loopback_host,
    trusted_hosts,
    untrusted_host,
    with_trusted_hosts,
)


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost.", "127.0.0.1", "127.9.8.7", "::1", "[::1]"])
def test_loopback_as_written(host: str) -> None:
    assert is_loopback_host(host)


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f000001", "0.0.0.0", "localhost.example.com", "vm", ""])
def test_other_spellings_are_not_loopback(host: str) -> None:
    """Names and short forms that may resolve to loopback are judged as written: not loopback."""
    assert not is_loopback_host(host)


def test_the_allowlist_comes_from_the_environment_and_the_flags() -> None:
    env = with_trusted_hosts({TRUSTED_HOSTS_ENV: "a.example, B.example:8091"}, ["c.example", "[2001:db8::1]:9"])
    assert trusted_hosts(env) == frozenset({"a.example", "b.example", "c.example", "2001:db8::1"})
    assert trusted_hosts(with_trusted_hosts({}, [])) == frozenset()
    trusted = trusted_hosts(env)
    assert untrusted_host("https://b.example:9000/admin", trusted) is None
    assert untrusted_host("http://127.0.0.1:8091", frozenset()) is None
    assert untrusted_host("https://evil.example/", trusted) == "evil.example"
    assert untrusted_host("https://a.example.evil.example/", trusted) == "a.example.evil.example"
