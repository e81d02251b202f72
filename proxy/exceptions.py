"""Every exception the forwarder raises on purpose, in one tree: catch the root or a precise branch.

    ForwarderError
    ├── ConfigError           a models-config that cannot be loaded (every problem listed, never a key)
    ├── SettingsError         a settings file or flag that is unreadable, unknown or mistyped
    ├── RequestRefused        a client's request that is not sent upstream (answered 400)
    │   ├── TooManyParts      a multipart form with too many parts
    │   └── TranslationError  a chat request Anthropic's Messages API cannot express (also a ValueError)
    ├── AnswerMemoryFull      a buffered answer that does not fit under max_buffered_bytes in time (a 503)
    └── UpstreamError         the upstream hop failed; `reason` is a fixed word for logs and metrics
        ├── UpstreamTimeout   a deadline missed: `which` names it (ttfb, idle, total)
        ├── UpstreamRedirect  a 3xx answer, never followed
        ├── ConnectError      no connection could be made: nothing was sent
        └── Disconnected      the connection failed or the answer was malformed after the request was sent
            ├── NotSent       closed before the request's last byte left: retried once
            └── TooLarge      an answer above a cap

An endpoint answers an `UpstreamError` (and a connection the client reset, and the total timeout) as the
client can still take it: an error answer, an error event in a started stream, or a cut (`proxy/hop.py`).
"""

from __future__ import annotations


class ForwarderError(Exception):
    """The root: anything the forwarder raises on purpose (anything else is a bug)."""


class ConfigError(ForwarderError):
    """The file cannot be loaded; `errors` lists every problem found (never a key)."""

    def __init__(self, source: str, errors: list[str]) -> None:
        super().__init__(f"{source}: invalid models-config: " + "; ".join(errors))
        self.source = source
        self.errors = errors


class SettingsError(ForwarderError):
    """The settings file is unreadable or holds an unknown or mistyped setting."""


class RequestRefused(ForwarderError):
    """A client's request the forwarder will not send upstream; the client gets a 400."""


class TooManyParts(RequestRefused):
    """A multipart body with more parts than a form has (`MAX_FORM_PARTS` in proxy/forward.py)."""


class TranslationError(RequestRefused, ValueError):
    """The OpenAI request cannot be expressed for Anthropic; becomes a 400 naming `param`."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


class AnswerMemoryFull(ForwarderError):
    """The buffered answers held at once already fill `max_buffered_bytes` and none ended within
    `wait_timeout`: this answer is dropped (a 503), not the upstream's failure."""


class UpstreamError(ForwarderError):
    """The upstream hop failed; `reason` is a short fixed word for logs and metrics (never upstream data)."""

    def __init__(self, message: str, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


class UpstreamTimeout(UpstreamError):
    """An upstream missed a deadline; `which` names it (ttfb, idle, total)."""

    def __init__(self, which: str) -> None:
        super().__init__(which, f"timeout_{which}")
        self.which = which


class UpstreamRedirect(UpstreamError):
    """An upstream answered a redirect (3xx). Never followed: it would carry the API key to wherever it points,
    and an OpenAI-style API has no reason to redirect a POST; passed on, the client got a 3xx without its
    Location (or, for claudeai, an empty completion translated from the redirect's body)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the upstream answered a redirect ({status})", f"http_{status}")
        self.status = status


class ConnectError(UpstreamError):
    """No connection could be made: nothing was sent, so the request may be retried."""

    def __init__(self, message: str, reason: str = "connect") -> None:
        super().__init__(message, reason)


class Disconnected(UpstreamError):
    """The connection failed or the answer was malformed after the request was sent (never retried)."""

    def __init__(self, message: str, reason: str = "closed") -> None:
        super().__init__(message, reason)


class NotSent(Disconnected):
    """The connection was seen closed before the request's last byte left: the upstream cannot have acted on
    it, so it is retried once on a fresh connection."""

    def __init__(self, message: str, reason: str = "closed_before_sent") -> None:
        super().__init__(message, reason)


class TooLarge(Disconnected):
    """An answer (its declared length, its bytes, or what it inflates to) is above a cap."""

    def __init__(self, message: str, reason: str = "too_large") -> None:
        super().__init__(message, reason)
