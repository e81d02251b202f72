"""Who may call a forwarder that has no client token: not a web page (the browser rule).

Why: without a client token the forwarder trusts whatever reaches 127.0.0.1, and a browser on that host is such
a thing. Any page can make it send a CORS "simple request" (a POST with `Content-Type: text/plain`, no preflight)
carrying its own `Origin`, and DNS rebinding lets a page read answers under its own name, which reaches us as
its `Host`. So a request whose `Host` is not a loopback name (nor one given with --allow-host) is misdirected
(421), and one whose `Origin` is not this server's own (nor one given with --allow-origin) is refused (403).
Clients that are not browsers send the Host they connected to and no Origin, and pass.

The watcher's HTTP surface keeps a copy of this rule (reconciler/status/browsers.py): proxy/ never imports
reconciler/, and the reconciler shares with the forwarder only the models-config format. One table of cases
holds both copies to the same answers (tests/proxy/test_browser_rule.py).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

MISDIRECTED = 421  # the Host is not a name this server answers to
CROSS_ORIGIN = 403  # the request comes from another site's page


def host_name(host: str) -> str | None:
    """The name of a Host header (`name`, `name:port`, `[v6]`, `[v6]:port`), lower case; None if malformed."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        rest = host[end + 1 :]
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return host[: end + 1]
    name, sep, port = host.partition(":")
    if sep and not port.isdigit():
        return None
    return name or None


@functools.lru_cache(maxsize=256)  # a server sees few Host names; parsing an address costs ~8 us
def is_loopback_name(name: str) -> bool:
    if name == "localhost":
        return True
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    elif ":" in name:
        return False
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _origin(text: str) -> str:
    return text.strip().lower().rstrip("/")


class BrowserRule:
    """The rule with the operator's additions: `hosts` (--allow-host names) and `origins` (--allow-origin)."""

    def __init__(self, hosts: Iterable[str] = (), origins: Iterable[str] = ()) -> None:
        self.hosts = frozenset(n for h in hosts if (n := host_name(h)) is not None)
        self.origins = frozenset(_origin(o) for o in origins)

    def refusal(self, host: str | None, origin: str | None) -> int | None:
        """None (serve), MISDIRECTED or CROSS_ORIGIN for a request's `Host` and `Origin` headers (None: absent).

        A request without Host (HTTP/1.0) is served: no browser sends one. Its own origin is `http://` or
        `https://` and its Host, as written (a TLS reverse proxy in front keeps the Host).
        """
        if host is not None:
            name = host_name(host)
            if name is None or not (is_loopback_name(name) or name in self.hosts):
                return MISDIRECTED
        if origin is None:
            return None
        given = _origin(origin)
        if given in self.origins:
            return None
        if host is not None and given in (f"http://{host.strip().lower()}", f"https://{host.strip().lower()}"):
            return None
        return CROSS_ORIGIN
