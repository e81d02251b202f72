"""Who may read the watcher's HTTP surface: pure decisions on a request's credentials.

Why here and pure: the rule (open on loopback without a token; with a token, every request but /healthz shows
it, as a bearer header for Prometheus or as the cookie a browser got from the login form) is the security
contract of the status page and /metrics, so it is spelled once and unit-tested without a server. The cookie
holds an HMAC of the token, not the token, so a cookie read off a disk is not the token a scraper uses.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Mapping

COOKIE = "reconcile_watch"
OPEN_PATHS = frozenset({"/healthz", "/login"})  # liveness probes and the form itself


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refusal(host: str, token: str | None) -> str | None:
    """Why the watcher must not listen on `host` (None: it may): off loopback, only with a token."""
    if token or is_loopback(host):
        return None
    return (
        f"refusing to serve the watcher's HTTP surface on {host} without a token: the status page and /metrics "
        "would be open to the network. Give --http-token env:NAME or file:PATH, or listen on 127.0.0.1."
    )


def cookie_value(token: str) -> str:
    """What the login form's cookie holds: derived from the token, never the token itself."""
    return hmac.new(token.encode(), b"reconcile-watch-page", hashlib.sha256).hexdigest()


def token_matches(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())


def authorized(path: str, headers: Mapping[str, str], cookies: Mapping[str, str], token: str | None) -> bool:
    """May this request be answered? Without a token (loopback only) everything is open."""
    if token is None or path in OPEN_PATHS:
        return True
    auth = headers.get("Authorization", "")
    if auth.startswith("Bearer ") and token_matches(auth[len("Bearer ") :].strip(), token):
        return True
    got = cookies.get(COOKIE)
    return got is not None and hmac.compare_digest(got.encode(), cookie_value(token).encode())
