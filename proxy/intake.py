"""A client's request before it is forwarded: its token, its body's caps and read deadline, and the count of
what is refused (by reason, in `morpheus_proxy_rejections_total`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import HttpVersion11, web

from proxy.browsers import MISDIRECTED
from proxy.error_bodies import error_response
from proxy.state import ProxyState

T = TypeVar("T")


class Intake:
    """The checks every endpoint runs on a request, bound to one ProxyState."""

    def __init__(self, state: ProxyState) -> None:
        self.state = state
        self.settings = state.settings
        self.json_cap = min(self.settings.max_json_body_bytes, self.settings.max_body_bytes)

    def unauthorized(self) -> web.Response:
        self.state.metrics.rejections.inc((("reason", "unauthorized"),))
        return error_response(
            401, "missing or wrong bearer token", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
        )

    def browser_refused(self, status: int) -> web.Response:
        """A request the browser rule refuses (proxy/browsers.py): misdirected (421) or from a web page (403)."""
        if status == MISDIRECTED:
            return self.rejected(
                error_response(
                    421,
                    "the Host header is not a loopback name nor one given with --allow-host",
                    code="misdirected_request",
                ),
                "misdirected",
            )
        return self.rejected(
            error_response(
                403,
                "a request from a web page (its Origin is neither this server nor one given with --allow-origin) "
                "is refused without a client token",
                code="cross_origin_refused",
            ),
            "cross_origin",
        )

    def rejected(self, response: web.Response, reason: str) -> web.Response:
        """`response`, counted as a refusal for `reason`."""
        self.state.metrics.rejections.inc((("reason", reason),))
        return response

    def body_too_large(self, cap: int) -> web.Response:
        return self.rejected(error_response(413, f"the request body exceeds {cap} bytes", code="http_413"), "too_large")

    def read_timed_out(self) -> web.Response:
        return self.rejected(
            error_response(
                408,
                f"the request body did not arrive within {self.settings.request_read_timeout:g} s",
                code="request_timeout",
                headers={"Connection": "close"},
            ),
            "read_timeout",
        )

    async def within_read_deadline(self, request: web.BaseRequest, reading: Awaitable[T]) -> T | None:
        """Read a request body within request_read_timeout (None when it ran out); a body that has already
        arrived whole (the common case: small bodies come with the head) is read without arming a timer.

        A client that sent `Expect: 100-continue` waits for a `100 Continue` before sending the body (curl for
        uploads over 1 MiB, .NET, Java clients): it gets one here, after the checks that refuse the request
        from its head alone (token, declared length), as aiohttp's Application would send it.
        """
        if request.content.is_eof():
            return await reading
        if request.version >= HttpVersion11 and request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0  # the answer itself has not started
        try:
            async with asyncio.timeout(self.settings.request_read_timeout):
                return await reading
        except TimeoutError:
            return None
