"""Who may read the watcher's HTTP surface: pure decisions on a request's credentials.

Why here and pure: the rule (open on loopback without a token, to loopback names and its own origin only, see
browsers.py; with a token, every request but /healthz and /login shows it, as a bearer header for Prometheus or
as the cookie a browser got from the login form) is the security contract of the status page and /metrics, so
it is spelled once and unit-tested without a server. The cookie holds its issue time and an HMAC of the token
and that time, not the token: a cookie read off a disk is not the token a scraper uses, and it expires.
Wrong tokens are counted for the whole server (`GuessBudget`), never per request, and only after the right
token has had its chance, so the right one is never refused.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import ipaddress
from collections.abc import Mapping

COOKIE = "reconcile_watch"
OPEN_PATHS = frozenset({"/healthz", "/login"})  # liveness probes and the form itself
MIN_TOKEN_CHARS = 32  # `openssl rand -hex 24` gives 48
COOKIE_MAX_AGE = 7 * 86400  # a login lasts a week, then the form asks again
GUESSES_PER_SECOND = 5.0  # wrong tokens the whole server answers per second, beyond a burst of ...
GUESS_BURST = 5
_FUTURE_SLACK = 300  # a cookie issued up to this far ahead (the clock stepped back) still counts


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def refusal(host: str, token: str | None) -> str | None:
    """Why the watcher must not listen on `host` (None: it may): off loopback, only with a token (one long
    enough: `token_refusal`)."""
    if token or is_loopback(host):
        return None
    return (
        f"refusing to serve the watcher's HTTP surface on {host} without a token: the status page and /metrics "
        "would be open to the network. Give --http-token env:NAME or file:PATH, or listen on 127.0.0.1."
    )


def token_refusal(token: str) -> str | None:
    """Why `token` is too weak for the HTTP surface (None: it will do). Never quotes the token."""
    if len(token) >= MIN_TOKEN_CHARS:
        return None
    return (
        f"--http-token: the token needs at least {MIN_TOKEN_CHARS} characters (this one has {len(token)}); "
        "make one with `openssl rand -hex 24` (48)"
    )


def _mac(token: str, issued: int) -> str:
    return hmac.new(token.encode(), b"reconcile-watch-page:%d" % issued, hashlib.sha256).hexdigest()


def cookie_value(token: str, issued: int) -> str:
    """What the login form's cookie holds: `<issued>.<HMAC of the token and issued>`, never the token itself."""
    return f"{issued}.{_mac(token, issued)}"


class Cookie(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"  # ours, but older than the max age: the form asks again
    FOREIGN = "foreign"  # not made with this token: absent, malformed, an older format, another token's


def read_cookie(got: str | None, token: str, now: float, max_age: float) -> Cookie:
    if got is None:
        return Cookie.FOREIGN
    issued, _, mac = got.partition(".")
    if not issued.isascii() or not issued.isdigit() or len(issued) > 12:
        return Cookie.FOREIGN
    if not hmac.compare_digest(mac.encode("utf-8", "surrogatepass"), _mac(token, int(issued)).encode()):
        return Cookie.FOREIGN
    age = now - int(issued)
    return Cookie.VALID if -_FUTURE_SLACK <= age <= max_age else Cookie.EXPIRED


def bearer(header: str) -> str | None:
    """The credentials of an `Authorization: Bearer ...` header, the scheme in any case (RFC 9110); else None."""
    scheme, _, credentials = header.partition(" ")
    return (credentials.lstrip(" ") or None) if scheme.lower() == "bearer" else None


def token_matches(given: str, token: str) -> bool:
    """Constant-time; `given` may hold the surrogates aiohttp makes of undecodable bytes (then it is wrong)."""
    return hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode())


class Verdict(enum.Enum):
    ALLOWED = "allowed"
    MISSING = "missing"  # no credentials (or an expired or foreign cookie): 401, or the login form
    WRONG = "wrong"  # a wrong token in Authorization: a guess


def verdict(
    path: str, headers: Mapping[str, str], cookies: Mapping[str, str], token: str | None, now: float, max_age: float
) -> Verdict:
    """May this request be answered? Without a token (loopback only) everything is open. The right token, in
    either place, is looked at before anything is counted as a guess."""
    if token is None or path in OPEN_PATHS:
        return Verdict.ALLOWED
    auth = headers.get("Authorization")
    given = bearer(auth) if auth is not None else None
    if given is not None and token_matches(given, token):
        return Verdict.ALLOWED
    if read_cookie(cookies.get(COOKIE), token, now, max_age) is Cookie.VALID:
        return Verdict.ALLOWED
    return Verdict.MISSING if auth is None else Verdict.WRONG


def authorized(
    path: str,
    headers: Mapping[str, str],
    cookies: Mapping[str, str],
    token: str | None,
    now: float = 0.0,
    max_age: float = COOKIE_MAX_AGE,
) -> bool:
    return verdict(path, headers, cookies, token, now, max_age) is Verdict.ALLOWED


class GuessBudget:
    """Wrong tokens the whole server answers: `burst` at once, refilled at `per_second`; beyond it, 429 at once.

    Per server, not per client: a guesser with many addresses or connections gets no more. A token of at least
    32 characters (128 bits and more) is out of reach at 5 a second; the budget keeps a guesser from also
    costing the page its CPU.
    """

    def __init__(self, per_second: float = GUESSES_PER_SECOND, burst: int = GUESS_BURST) -> None:
        self.per_second, self.burst = per_second, float(burst)
        self.left = float(burst)
        self.at: float | None = None

    def take(self, now: float) -> bool:
        """Spend one guess at monotonic time `now`; False when none is left."""
        if self.at is not None:
            self.left = min(self.burst, self.left + (now - self.at) * self.per_second)
        self.at = now
        if self.left < 1:
            return False
        self.left -= 1
        return True
