"""Where a token may be sent: a loopback host, or a host the operator trusts, named outside the desired state.

Why: the desired state is written by whoever opens a pull request, and `plan` runs in CI with secrets in its
environment. A URL in the YAML (`proxy.adminUrl`) must not decide where a token goes, or a pull request points it
at its own server and reads the token in the request. The operator names trusted hosts with `--trust-host HOST`
(plan, status, apply, watch) or `RECONCILE_TRUSTED_HOSTS` (comma-separated); loopback needs neither.

The host is judged as the URL spells it, never by resolving it: a name that resolves to 127.0.0.1 today may
resolve elsewhere when the request is sent.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

TRUSTED_HOSTS_ENV = "RECONCILE_TRUSTED_HOSTS"


def _norm(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def is_loopback_host(host: str) -> bool:
    """`localhost`, or an IP address in 127.0.0.0/8 or ::1, as written (no name is resolved)."""
    h = _norm(host)
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def _host_part(entry: str) -> str:
    """A trusted-host entry as a host: `name`, `name:port`, `[v6]:port` or a bare IPv6 address (a port is
    dropped: the host is what is trusted)."""
    e = entry.strip()
    if e.count(":") > 1 and not e.startswith("["):
        return _norm(e)
    try:
        return _norm(urlsplit("//" + e).hostname or "")
    except ValueError:
        return _norm(e)


def trusted_hosts(environ: Mapping[str, str] | None) -> frozenset[str]:
    """The hosts `RECONCILE_TRUSTED_HOSTS` names (comma- or space-separated), normalised (None: os.environ)."""
    text = (os.environ if environ is None else environ).get(TRUSTED_HOSTS_ENV, "")
    return frozenset(h for h in map(_host_part, text.replace(",", " ").split()) if h)


def with_trusted_hosts(environ: Mapping[str, str], hosts: Iterable[str]) -> dict[str, str]:
    """`environ` with `hosts` (the `--trust-host` flags) added to `RECONCILE_TRUSTED_HOSTS`: one place to read."""
    out = dict(environ)
    given = [h for h in hosts if h.strip()]
    if given:
        out[TRUSTED_HOSTS_ENV] = ",".join([*([out[TRUSTED_HOSTS_ENV]] if out.get(TRUSTED_HOSTS_ENV) else []), *given])
    return out


def host_of(url: str) -> str:
    """The host a URL names (lower case; empty when it names none)."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def untrusted_host(url: str, trusted: frozenset[str]) -> str | None:
    """The host of `url` when a token must not go there (None: loopback or trusted)."""
    host = host_of(url)
    if host and (is_loopback_host(host) or _norm(host) in trusted):
        return None
    return host or url


def not_trusted(host: str) -> str:
    """The one wording every command uses for a destination it sent nothing to."""
    return f"not checked: {host} is not a trusted destination"
