"""Loopback stubs of the image, video and decisions upstreams, and the requests the proxy-router sends them.

Each stub is modelled on what the router's adapter for that apiType sends and expects (Morpheus-Lumerin-Node,
proxy-router/internal/aiengine): it checks the request's shape and the key in that type's header, records
what it saw, and answers in that upstream's shape. `router_request` builds the router's exact request
(Go's encoding/json writes map keys sorted, without spaces; Go's client adds its User-Agent and asks for gzip).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PRODIA_KEY = "prodia-REAL-key-5f3a"
HYPERBOLIC_KEY = "hyp-REAL-key-77c1"
DECISIONS_KEY = "dec-REAL-key-0b9e"
CHUNK = 64 * 1024

# Each type's upstream path below the stub's root (the reconciler's default paths, decisions a full URL).
PATHS = {
    "prodia-sd": "/prodia/v1/sd/generate",
    "prodia-sdxl": "/prodia/v1/sdxl/generate",
    "prodia-v2": "/prodia/v2/job",
    "hyperbolic-sd": "/hyperbolic/v1/image/generation",
    "decisions": "/decisions/v1/decide",
}
KEYS = {
    "prodia-sd": PRODIA_KEY,
    "prodia-sdxl": PRODIA_KEY,
    "prodia-v2": PRODIA_KEY,
    "hyperbolic-sd": HYPERBOLIC_KEY,
    "decisions": DECISIONS_KEY,
}


def payload(size: int, seed: str) -> bytes:
    """`size` deterministic, incompressible-looking bytes (an image or a video's stand-in)."""
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:size])


PNG_HEAD = b"\x89PNG\r\n\x1a\n"
MP4_HEAD = b"\x00\x00\x00\x20ftypisom"


@dataclass
class MediaKnobs:
    image_bytes: int = 3 * 1024 * 1024  # prodia-v2 images, hyperbolic's decoded image
    video_bytes: int = 4 * 1024 * 1024
    polls_before_done: int = 2  # prodia v1: polls answered "generating" before "succeeded"
    job_ends: str = "succeeded"
    status: int | None = None  # answer every POST with this error status
    echo_key_in_error: bool = True  # the error body quotes the key it was sent (some upstreams do)
    declare_length: bool = False  # binary answers with a Content-Length (else chunked)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class MediaUpstream:
    knobs: MediaKnobs = field(default_factory=MediaKnobs)
    seen: list[Seen] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)
    sent: dict[str, bytes] = field(default_factory=dict)  # path -> the last answer body sent
    jobs: dict[str, int] = field(default_factory=dict)  # job id -> polls so far
    url: str = ""

    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]


def _key_problem(request: web.Request, api_type: str) -> str | None:
    key = KEYS[api_type]
    if api_type in ("prodia-sd", "prodia-sdxl"):
        if request.headers.get("X-Prodia-Key") != key:
            return "X-Prodia-Key is not the real key"
        if "Authorization" in request.headers:
            return "an Authorization header reached a Prodia v1 upstream"
        return None
    if request.headers.get("Authorization") != f"Bearer {key}":
        return "Authorization is not Bearer <the real key>"
    if "X-Prodia-Key" in request.headers:
        return "an X-Prodia-Key header reached a bearer upstream"
    return None


def _shape_problem(api_type: str, body: Any) -> str | None:
    """The body each adapter sends; anything else means the request was changed on the way."""
    if not isinstance(body, dict):
        return "not a JSON object"
    if api_type in ("prodia-sd", "prodia-sdxl"):
        ok = set(body) == {"model", "prompt"} and all(isinstance(v, str) for v in body.values())
    elif api_type == "prodia-v2":
        ok = set(body) == {"type", "config"} and isinstance(body["config"], dict) and "prompt" in body["config"]
    elif api_type == "hyperbolic-sd":
        ok = {"model_name", "prompt", "height", "width", "backend"} <= set(body)
        ok = ok and all(isinstance(v, str) for v in body.values())
    else:
        ok = isinstance(body.get("model"), str)
    return None if ok else f"not a {api_type} request body"


def _app(up: MediaUpstream) -> web.Application:
    async def record(request: web.Request, api_type: str) -> tuple[bytes, web.Response | None]:
        raw = await request.read()
        up.seen.append(Seen(request.method, request.path, dict(request.headers), raw))
        problem = _key_problem(request, api_type)
        if problem is not None:
            up.invalid.append(problem)
            body = {"message": f"bad key {request.headers.get('Authorization', '')}"}
            return raw, web.json_response(body, status=401)
        if up.knobs.status is not None and request.method == "POST":
            shown = KEYS[api_type] if up.knobs.echo_key_in_error else "***"
            text = f"request refused for key {shown}; patient John Doe, case 1234"
            return raw, web.json_response({"message": text, "detail": [{"msg": text}]}, status=up.knobs.status)
        return raw, None

    async def stream(request: web.Request, body: bytes, ctype: str) -> web.StreamResponse:
        up.sent[request.path] = body
        resp = web.StreamResponse(headers={"Content-Type": ctype, "x-request-id": "req-media-1"})
        if up.knobs.declare_length:
            resp.content_length = len(body)
        await resp.prepare(request)
        for i in range(0, len(body), CHUNK):
            await resp.write(body[i : i + CHUNK])
        await resp.write_eof()
        return resp

    def prodia_v1(api_type: str) -> Any:
        async def generate(request: web.Request) -> web.StreamResponse:
            raw, refused = await record(request, api_type)
            if refused is not None:
                return refused
            problem = _shape_problem(api_type, json.loads(raw))
            if problem is not None:
                up.invalid.append(problem)
                return web.json_response({"message": "Invalid Generation Parameters"}, status=400)
            job = str(uuid.uuid4())
            up.jobs[job] = 0
            return web.json_response({"job": job, "status": "queued"})

        return generate

    async def job(request: web.Request) -> web.StreamResponse:
        api_type = "prodia-sdxl" if "/sdxl/" in request.path else "prodia-sd"
        _, refused = await record(request, api_type)
        if refused is not None:
            return refused
        job_id = request.match_info["job"]
        if job_id not in up.jobs:
            return web.json_response({"message": "job not found"}, status=404)
        up.jobs[job_id] += 1
        if up.jobs[job_id] <= up.knobs.polls_before_done:
            return web.json_response({"job": job_id, "status": "generating"})
        answer = {"job": job_id, "status": up.knobs.job_ends}
        if up.knobs.job_ends == "succeeded":
            answer["imageUrl"] = f"https://images.prodia.xyz/{job_id}.png"
        return web.json_response(answer)

    async def prodia_v2(request: web.Request) -> web.StreamResponse:
        raw, refused = await record(request, "prodia-v2")
        if refused is not None:
            return refused
        body = json.loads(raw)
        problem = _shape_problem("prodia-v2", body)
        if problem is not None:
            up.invalid.append(problem)
            return web.json_response({"message": problem}, status=400)
        if "txt2vid" in body["type"]:
            return await stream(
                request, MP4_HEAD + payload(up.knobs.video_bytes - len(MP4_HEAD), raw.hex()), "video/mp4"
            )
        return await stream(request, PNG_HEAD + payload(up.knobs.image_bytes - len(PNG_HEAD), raw.hex()), "image/png")

    async def hyperbolic(request: web.Request) -> web.StreamResponse:
        raw, refused = await record(request, "hyperbolic-sd")
        if refused is not None:
            return refused
        problem = _shape_problem("hyperbolic-sd", json.loads(raw))
        if problem is not None:
            up.invalid.append(problem)
            return web.json_response({"message": problem}, status=400)
        image = base64.b64encode(PNG_HEAD + payload(up.knobs.image_bytes, raw.hex())).decode()
        answer = json.dumps({"images": [{"image": image, "random_seed": 42, "index": 0}], "inference_time": 1.5})
        return await stream(request, answer.encode(), "application/json")

    async def decisions(request: web.Request) -> web.StreamResponse:
        raw, refused = await record(request, "decisions")
        if refused is not None:
            return refused
        body = json.loads(raw)
        problem = _shape_problem("decisions", body)
        if problem is not None:
            up.invalid.append(problem)
            return web.json_response({"message": problem}, status=422)
        answer = {"model": body["model"], "decision": "approve", "confidence": 0.91, "answers": body.get("questions")}
        return await stream(request, json.dumps(answer).encode(), "application/json")

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post(PATHS["prodia-sd"], prodia_v1("prodia-sd"))
    app.router.add_post(PATHS["prodia-sdxl"], prodia_v1("prodia-sdxl"))
    app.router.add_get(PATHS["prodia-sd"] + "/job/{job}", job)
    app.router.add_get(PATHS["prodia-sdxl"] + "/job/{job}", job)
    app.router.add_post(PATHS["prodia-v2"], prodia_v2)
    app.router.add_post(PATHS["hyperbolic-sd"], hyperbolic)
    app.router.add_post(PATHS["decisions"], decisions)
    return app


@contextlib.asynccontextmanager
async def serve_media() -> AsyncIterator[MediaUpstream]:
    """All five stubs on one free loopback port; always stopped."""
    up = MediaUpstream()
    runner = web.AppRunner(_app(up), handler_cancellation=True, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    up.url = f"http://127.0.0.1:{port}"
    try:
        yield up
    finally:
        await runner.cleanup()


def go_json(obj: Any) -> bytes:
    """encoding/json.Marshal of a Go map: keys sorted, no spaces, HTML characters escaped."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


GO_HEADERS = {"User-Agent": "Go-http-client/1.1", "Accept-Encoding": "gzip"}


def router_request(
    api_type: str, model_name: str, prompt: str, router_key: str, parameters: dict[str, str] | None = None
) -> tuple[dict[str, str], bytes]:
    """(headers, body) of the POST the router's adapter sends to its entry's apiUrl."""
    if api_type in ("prodia-sd", "prodia-sdxl"):
        headers = {"Accept": "application/json", "Content-Type": "application/json", "X-Prodia-Key": router_key}
        return {**GO_HEADERS, **headers}, go_json({"model": model_name, "prompt": prompt})
    if api_type == "prodia-v2":
        headers = {"Accept": "video/mp4", "Content-Type": "application/json", "Authorization": f"Bearer {router_key}"}
        return {**GO_HEADERS, **headers}, go_json({"type": model_name, "config": {"prompt": prompt}})
    if api_type == "hyperbolic-sd":
        body = {"model_name": model_name, "prompt": prompt, "height": "512", "width": "512", "backend": "auto"}
        body.update(parameters or {})
        headers = {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "Authorization": f"Bearer {router_key}",
        }
        return {**GO_HEADERS, **headers}, go_json(body)
    assert api_type == "decisions"
    # The buyer's Decisions JSON with `model` overwritten (a struct: its fields in declaration order), unknown
    # fields kept.
    decision = {
        "model": model_name,
        "questions": [{"id": "q1", "text": "approve the claim?"}],
        "state": {"amount": 1200, "currency": "EUR", "note": "Grüße <b>"},
        "customField": True,
    }
    body = json.dumps(decision, separators=(",", ":"), ensure_ascii=False).encode()
    headers = {"Authorization": f"Bearer {router_key}", "Content-Type": "application/json", "Connection": "keep-alive"}
    return {**GO_HEADERS, **headers}, body
