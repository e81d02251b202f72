"""Image, video and decisions models: the router's own request relayed by path, with the real key.

For these apiTypes the proxy-router's adapter builds the upstream request itself (from the buyer's prompt,
its entry's `modelName` and, for hyperbolic-sd, its `parameters`) and sends it to its entry's `apiUrl`, which
the reconciler points at `/v1/relay/<model id>` here. So the forwarder routes on the path, whatever the
body's shape, and passes the request on unchanged but for the key: the router's key (our client token) is
checked and dropped, and the real key goes in the header that type's upstream reads. Answers go back
unchanged; binary ones (images, video/mp4) and large JSON ones are written through as they arrive, under
the streamed-answer cap, never held whole in memory.

Prodia's v1 image jobs (prodia-sd, prodia-sdxl) answer the POST with a job that the router then polls
(`GET <apiUrl>/job/<id>`) until it ends. The upstream is still working on it, so the job keeps the POST's
slot until a poll sees it end (or the total timeout passes); a poll takes no slot of its own.

A Decisions upstream's error is passed on sanitized, as the router does: its status and a fixed message.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiohttp import web

from proxy.config import JOB_API_TYPES, RELAY, ModelRoute
from proxy.downstream import passed_on
from proxy.error_bodies import error_response
from proxy.hop import Hop, Trip
from proxy.intake import Intake
from proxy.routing import check_bearer, check_token_in
from proxy.slots import SlotGate
from proxy.upstream import UpstreamResponse

RELAY_PREFIX = "/v1/relay/"
# A job id is one path segment that cannot be `.` or `..` (it is appended to the upstream URL with our key).
_PATH = re.compile(r"^/v1/relay/(?:0x)?([0-9a-fA-F]{64})(?:/job/([A-Za-z0-9_~-][A-Za-z0-9._~-]{0,199}))?$")
PRODIA_KEY = "X-Prodia-Key"
# How each relayed type's upstream reads its key; the others take `Authorization: Bearer <key>`.
_KEY_HEADERS = {"prodia-sd": PRODIA_KEY, "prodia-sdxl": PRODIA_KEY}
# Request headers that stay here: hop-by-hop ones, the router's key in any form, and what our client sets.
_NOT_RELAYED = frozenset(
    {
        "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
        "host", "content-length", "accept-encoding", "expect", "authorization", "x-prodia-key", "x-api-key",
    }
)  # fmt: skip
JOB_ENDED = frozenset({"succeeded", "failed"})


class JobSlots:
    """Slots held by running image jobs, keyed by (model id, job id): released when a poll sees the job end,
    when the upstream no longer knows it, or after a timeout (a router that stopped polling)."""

    def __init__(self) -> None:
        self.held: dict[tuple[str, str], tuple[SlotGate, asyncio.TimerHandle]] = {}

    def hold(self, gate: SlotGate, model_id: str, job: str, timeout: float) -> None:
        key = (model_id, job)
        if key in self.held:
            return  # the same job answered twice: still one slot
        gate.extend()
        handle = asyncio.get_running_loop().call_later(timeout, self.end, model_id, job)
        self.held[key] = (gate, handle)

    def end(self, model_id: str, job: str) -> None:
        item = self.held.pop((model_id, job), None)
        if item is not None:
            gate, handle = item
            handle.cancel()
            gate.release()


def _job_of(body: bytes) -> tuple[str | None, str | None]:
    """(job id, status) of a Prodia job answer, (None, None) when it is not one."""
    try:
        parsed: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested past the recursion limit
        return None, None
    if not isinstance(parsed, dict):
        return None, None
    job, status = parsed.get("job"), parsed.get("status")
    return (job if isinstance(job, str) else None), (status if isinstance(status, str) else None)


def decisions_error(status: int) -> bytes:
    """What the router answers for a Decisions upstream error: no upstream text (it may hold case data)."""
    if status in (400, 422):
        message, type_ = "upstream rejected the decisions request", "validation_error"
    else:
        message, type_ = "upstream decisions request failed", "upstream_error"
    return json.dumps({"error": {"message": message, "type": type_, "code": status}}).encode()


class Relay:
    """The `/v1/relay/<model id>` handler, bound to the shared hop (slots, upstream pool, caps, metrics) and intake."""

    def __init__(self, hop: Hop, intake: Intake) -> None:
        self.hop, self.intake = hop, intake
        self.state, self.settings = hop.state, hop.settings
        self.jobs = JobSlots()

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        t0 = asyncio.get_running_loop().time()
        found = _PATH.match(request.path)
        if found is None:
            return error_response(404, "Not Found", code="http_404")
        model_id, job = found.group(1).lower(), found.group(2)
        method = "GET" if job else "POST"
        if request.method != method:
            return error_response(405, "Method Not Allowed", code="http_405", headers={"Allow": method})
        if not self._authorized(request):
            return self.intake.unauthorized()
        cfg = self.state.config
        if cfg is None:
            return error_response(503, "no models-config is loaded", code="not_ready")
        route = cfg.by_id.get(model_id)
        if route is None:
            return self.intake.rejected(
                error_response(404, f"model 0x{model_id} is not served here", code="model_not_found"), "routing"
            )
        if route.kind != RELAY:
            return self.intake.rejected(
                error_response(
                    400, f"model 0x{model_id} is an {route.api_type} model, not relayed", code="wrong_endpoint"
                ),
                "routing",
            )
        if job is not None:
            if route.api_type not in JOB_API_TYPES:
                return self.intake.rejected(
                    error_response(404, f"{route.api_type} models have no jobs to poll", code="http_404"), "routing"
                )
            return await self._poll(request, route, job, t0)
        cap = self.intake.json_cap
        if (declared := request.content_length) is not None and declared > cap:
            return self.intake.body_too_large(cap)
        data = await self.intake.within_read_deadline(request, request.read())
        if data is None:
            return self.intake.read_timed_out()
        headers = self._headers(request, route)
        return await self.hop.forward(request, route, t0, lambda trip: self._forward(trip, data, headers))

    def _authorized(self, request: web.BaseRequest) -> bool:
        """The router sends its key (our client token) as the type's upstream would get it: a bearer token,
        or Prodia v1's own header."""
        token = self.state.client_token
        if check_bearer(request, token):
            return True
        return PRODIA_KEY in request.headers and check_token_in(request, token, PRODIA_KEY)

    def _headers(self, request: web.BaseRequest, route: ModelRoute) -> dict[str, str]:
        """The router's headers as they came, less hop-by-hop ones and its key; plus the real key."""
        named = {t.strip().lower() for t in request.headers.get("Connection", "").split(",")}
        out: dict[str, str] = {}
        names: dict[str, str] = {}
        for name, value in request.headers.items():
            low = name.lower()
            if low in _NOT_RELAYED or low in named or low.startswith("proxy-"):
                continue
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                continue  # bytes that were not UTF-8: dropped rather than re-encoded differently
            if low in names:
                out[names[low]] += ", " + value
            else:
                names[low] = name
                out[name] = value
        key = route.api_key
        if key:
            header = _KEY_HEADERS.get(route.api_type)
            if header is not None:
                out[header] = key
            else:
                out["Authorization"] = "Bearer " + key
        return out

    async def _forward(self, trip: Trip, data: bytes, headers: dict[str, str]) -> web.StreamResponse:
        route = trip.route
        resp = await trip.open(data, headers)
        trip.answered()
        if resp.status >= 400:
            return await self._error(trip, resp)
        if route.api_type in JOB_API_TYPES:
            # A job answer is small; it is read to see whether the job outlives this request.
            body = await trip.read(resp, self.settings.max_response_bytes)
            job, status = _job_of(body)
            if job is not None and status not in JOB_ENDED:
                gate = self.state.slots.gate(route.model_id, route.slots)
                self.jobs.hold(gate, route.model_id, job, self.settings.total_timeout)
            ctype = resp.headers.get("Content-Type", "")
            return await trip.plain_out(resp.status, body, ctype, passed_on(resp.headers))
        trip.check_stream_length(resp)
        return await trip.pipe(resp)

    async def _poll(self, request: web.BaseRequest, route: ModelRoute, job: str, t0: float) -> web.StreamResponse:
        """`GET <apiUrl>/job/<id>`, relayed without a slot of its own; a job seen ending frees its slot."""
        out: web.StreamResponse | None = None
        try:
            out = await self.hop.trip(request, route, t0, lambda trip: self._poll_once(trip, job))
            return out
        finally:
            status = str(out.status) if out is not None else "499"
            self.state.metrics.job_polls.inc((*route.labels, ("status", status)))

    async def _poll_once(self, trip: Trip, job: str) -> web.StreamResponse:
        route = trip.route
        url = route.api_url.rstrip("/") + "/job/" + job
        resp = await trip.open(b"", self._headers(trip.request, route), "GET", url)
        if resp.status >= 400:
            if resp.status in (404, 410):
                self.jobs.end(route.model_id, job)  # the upstream does not know it (any more)
            return await self._error(trip, resp)
        body = await trip.read(resp, self.settings.max_response_bytes)
        if _job_of(body)[1] in JOB_ENDED:
            self.jobs.end(route.model_id, job)
        ctype = resp.headers.get("Content-Type", "")
        return await trip.plain_out(resp.status, body, ctype, passed_on(resp.headers))

    async def _error(self, trip: Trip, resp: UpstreamResponse) -> web.StreamResponse:
        """An upstream error: its status and Retry-After, its body with the key masked (Decisions: sanitized)."""
        return await trip.pass_on_error(resp, decisions_error if trip.route.api_type == "decisions" else None)
