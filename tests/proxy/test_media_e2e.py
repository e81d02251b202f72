"""Image, video and decisions models end to end: the router's exact request, through the forwarder's relay
path, to a stub of that type's upstream; the stub sees the real key in the right header and the request
otherwise unchanged, and the router gets the answer's bytes unchanged."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.support.fwd_helpers import ADMIN_TOKEN, CHAT, CLIENT_TOKEN, admin_url, base_url, entry, eventually, model_id
from tests.support.media_stubs import (
    GO_HEADERS,
    KEYS,
    MP4_HEAD,
    PATHS,
    PNG_HEAD,
    MediaUpstream,
    router_request,
    serve_media,
)

MB = 1024 * 1024


@pytest.fixture
async def media_up() -> AsyncIterator[MediaUpstream]:
    async with serve_media() as up:
        yield up


def media_entry(name: str, api_type: str, up: MediaUpstream, slots: int = 0, **extra: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "modelId": model_id(name),
        "modelName": name,
        "apiType": api_type,
        "apiUrl": up.url + PATHS[api_type],
        "apiKey": KEYS[api_type],
        **extra,
    }
    if slots:
        e["concurrentSlots"] = slots
    return e


def relay_url(r: Any, name: str) -> str:
    return f"http://127.0.0.1:{r.data_port}/v1/relay/{model_id(name)}"


def router_session() -> aiohttp.ClientSession:
    """A client that sends exactly the headers it is given (as Go's does) and reads bytes as they come."""
    skip = ("User-Agent", "Accept-Encoding", "Accept", "Content-Type")
    return aiohttp.ClientSession(skip_auto_headers=skip, auto_decompress=False)


async def router_post(
    s: aiohttp.ClientSession,
    r: Any,
    name: str,
    api_type: str,
    prompt: str = "a red fox in the snow",
    parameters: dict[str, str] | None = None,
    key: str = CLIENT_TOKEN,
) -> tuple[int, dict[str, str], bytes, bytes]:
    """The router's POST for this model; (status, headers in lower case, answer bytes, the request body sent)."""
    headers, body = router_request(api_type, name, prompt, key, parameters)
    async with s.post(relay_url(r, name), data=body, headers=headers) as resp:
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read(), body


def assert_relayed(up: MediaUpstream, api_type: str, body: bytes) -> None:
    """The stub got the router's body byte for byte, its headers but the key, and the real key only."""
    assert up.invalid == []
    seen = up.posts()[-1]
    assert seen.body == body
    sent_headers, _ = router_request(api_type, "x", "y", CLIENT_TOKEN)
    for name, value in sent_headers.items():
        if name in ("Authorization", "X-Prodia-Key", "Accept-Encoding", "Connection"):
            continue
        assert seen.headers.get(name) == value, name
    assert seen.headers.get("User-Agent") == GO_HEADERS["User-Agent"]
    assert seen.headers.get("Accept-Encoding") == "identity"  # bytes pass through uncompressed
    assert CLIENT_TOKEN not in json.dumps(seen.headers)
    header = "X-Prodia-Key" if api_type in ("prodia-sd", "prodia-sdxl") else "Authorization"
    want = KEYS[api_type] if header == "X-Prodia-Key" else f"Bearer {KEYS[api_type]}"
    assert seen.headers.get(header) == want


async def poll_to_end(s: aiohttp.ClientSession, r: Any, name: str, job: str) -> list[dict[str, Any]]:
    """Poll `GET <apiUrl>/job/<id>` with the router's headers until the job ends (the router waits a second
    between polls; the stub needs no wait)."""
    answers: list[dict[str, Any]] = []
    headers = {**GO_HEADERS, "accept": "application/json", "X-Prodia-Key": CLIENT_TOKEN}
    for _ in range(20):
        async with s.get(f"{relay_url(r, name)}/job/{job}", headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            answers.append(await resp.json())
        if answers[-1]["status"] in ("succeeded", "failed"):
            return answers
        await asyncio.sleep(0.01)
    raise AssertionError("the job never ended")


async def _prodia_v1_job(make_proxy: Any, up: MediaUpstream, api_type: str, name: str) -> None:
    async with make_proxy([media_entry(name, api_type, up, slots=2)], client_token=CLIENT_TOKEN) as r:
        async with router_session() as s:
            status, _, raw, body = await router_post(s, r, name, api_type)
            assert status == 200, raw
            assert_relayed(up, api_type, body)
            created = json.loads(raw)
            assert created["status"] == "queued"
            gate = r.state.slots.gates[model_id(name)[2:]]
            assert gate.in_flight == 1  # the running job keeps its slot after the POST was answered
            answers = await poll_to_end(s, r, name, created["job"])
        assert [a["status"] for a in answers] == ["generating", "generating", "succeeded"]
        assert answers[-1]["imageUrl"].endswith(created["job"] + ".png")
        polls = [x for x in up.seen if x.method == "GET"]
        assert len(polls) == 3 and all(p.path == PATHS[api_type] + "/job/" + created["job"] for p in polls)
        assert all(p.headers["X-Prodia-Key"] == KEYS[api_type] and not p.body for p in polls)
        assert gate.in_flight == 0  # the poll that saw it succeed freed the slot


async def test_prodia_sd_job_relayed_with_the_real_key_and_polled_to_succeeded(make_proxy, media_up):
    await _prodia_v1_job(make_proxy, media_up, "prodia-sd", "v1-5-pruned-emaonly.safetensors [d7049739]")


async def test_prodia_sdxl_job_relayed_with_the_real_key_and_polled_to_succeeded(make_proxy, media_up):
    await _prodia_v1_job(make_proxy, media_up, "prodia-sdxl", "sd_xl_base_1.0.safetensors [be9edd61]")


async def test_prodia_v2_multi_megabyte_image_passes_unchanged(make_proxy, media_up):
    media_up.knobs.image_bytes = 6 * MB
    async with make_proxy([media_entry("inference.flux.schnell.txt2img.v2", "prodia-v2", media_up)]) as r:
        async with router_session() as s:
            status, headers, raw, body = await router_post(s, r, "inference.flux.schnell.txt2img.v2", "prodia-v2")
    assert status == 200 and headers["content-type"] == "image/png"
    assert_relayed(media_up, "prodia-v2", body)
    assert len(raw) == 6 * MB and raw.startswith(PNG_HEAD)
    assert hashlib.sha256(raw).digest() == hashlib.sha256(media_up.sent[PATHS["prodia-v2"]]).digest()
    assert headers.get("x-request-id") == "req-media-1"


async def test_prodia_v2_video_mp4_passes_unchanged(make_proxy, media_up):
    media_up.knobs.declare_length = True  # a video with its length declared: still relayed as it arrives
    async with make_proxy([media_entry("inference.veo.fast.txt2vid.v1", "prodia-v2", media_up)]) as r:
        async with router_session() as s:
            status, headers, raw, body = await router_post(s, r, "inference.veo.fast.txt2vid.v1", "prodia-v2")
    assert status == 200 and headers["content-type"] == "video/mp4"
    assert_relayed(media_up, "prodia-v2", body)
    assert raw.startswith(MP4_HEAD) and raw == media_up.sent[PATHS["prodia-v2"]] and len(raw) == 4 * MB


async def test_hyperbolic_sd_image_with_parameters_passes_unchanged(make_proxy, media_up):
    params = {"height": "1024", "width": "1024", "steps": "30"}
    models = [media_entry("SDXL1.0-base", "hyperbolic-sd", media_up, parameters=params)]
    async with make_proxy(models, client_token=CLIENT_TOKEN) as r:
        async with router_session() as s:
            status, headers, raw, body = await router_post(s, r, "SDXL1.0-base", "hyperbolic-sd", parameters=params)
    assert status == 200 and headers["content-type"] == "application/json"
    assert_relayed(media_up, "hyperbolic-sd", body)
    assert json.loads(media_up.posts()[-1].body)["steps"] == "30"  # the router merged them; passed as they were
    assert raw == media_up.sent[PATHS["hyperbolic-sd"]] and len(raw) > 4 * MB
    assert base64.b64decode(json.loads(raw)["images"][0]["image"]).startswith(PNG_HEAD)


async def test_decisions_request_passes_unchanged_with_unknown_fields(make_proxy, media_up):
    async with make_proxy([media_entry("system-one", "decisions", media_up)], client_token=CLIENT_TOKEN) as r:
        async with router_session() as s:
            status, _, raw, body = await router_post(s, r, "system-one", "decisions")
    assert status == 200, raw
    assert_relayed(media_up, "decisions", body)
    assert json.loads(media_up.posts()[-1].body)["customField"] is True
    assert raw == media_up.sent[PATHS["decisions"]] and json.loads(raw)["decision"] == "approve"


async def test_a_job_holds_one_slot_and_its_polls_take_none(make_proxy, media_up):
    name = "sd-one-slot"
    async with make_proxy([media_entry(name, "prodia-sd", media_up, slots=1)], client_token=CLIENT_TOKEN) as r:
        async with router_session() as s:
            status, _, raw, _ = await router_post(s, r, name, "prodia-sd")
            assert status == 200
            job = json.loads(raw)["job"]
            busy = await router_post(s, r, name, "prodia-sd")  # the job still runs upstream: no second slot
            assert busy[0] == 429 and json.loads(busy[2])["error"]["code"] == "slots_full"
            answers = await poll_to_end(s, r, name, job)  # polls pass although the only slot is taken
            assert answers[-1]["status"] == "succeeded"
            status, _, raw, _ = await router_post(s, r, name, "prodia-sd")
            assert status == 200  # the slot came back when the job ended
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as http:
            async with http.get(admin_url(r) + "/metrics") as resp:
                metrics = await resp.text()
    mid = model_id(name)
    assert f'morpheus_proxy_job_polls_total{{model="{name}",model_id="{mid}",status="200"}} 3' in metrics
    assert f'morpheus_proxy_requests_total{{model="{name}",model_id="{mid}",status="200"}} 2' in metrics
    assert f'morpheus_proxy_requests_total{{model="{name}",model_id="{mid}",status="429"}}' not in metrics
    assert "morpheus_proxy_rejections_total" in metrics


async def test_a_failed_job_frees_its_slot_too(make_proxy, media_up):
    media_up.knobs.job_ends = "failed"
    async with make_proxy([media_entry("sd-f", "prodia-sd", media_up, slots=1)], client_token=CLIENT_TOKEN) as r:
        async with router_session() as s:
            _, _, raw, _ = await router_post(s, r, "sd-f", "prodia-sd")
            answers = await poll_to_end(s, r, "sd-f", json.loads(raw)["job"])
        assert answers[-1]["status"] == "failed"
        assert r.state.slots.gates[model_id("sd-f")[2:]].in_flight == 0


async def test_a_job_the_upstream_forgot_or_nobody_polls_frees_its_slot(make_proxy, media_up):
    models = [media_entry("sd-gone", "prodia-sd", media_up, slots=1)]
    async with make_proxy(models, client_token=CLIENT_TOKEN, total_timeout=0.5) as r, router_session() as s:
        gate = r.state.slots.gates[model_id("sd-gone")[2:]]
        _, _, raw, _ = await router_post(s, r, "sd-gone", "prodia-sd")
        job = json.loads(raw)["job"]
        del media_up.jobs[job]  # the upstream no longer knows it: its poll answers 404
        headers = {**GO_HEADERS, "X-Prodia-Key": CLIENT_TOKEN}
        async with s.get(f"{relay_url(r, 'sd-gone')}/job/{job}", headers=headers) as resp:
            assert resp.status == 404
        assert gate.in_flight == 0
        _, _, raw, _ = await router_post(s, r, "sd-gone", "prodia-sd")  # never polled: freed after total_timeout
        assert gate.in_flight == 1
        await eventually(lambda: gate.in_flight == 0)


async def test_upstream_errors_pass_with_the_key_masked(make_proxy, media_up):
    media_up.knobs.status = 429
    async with make_proxy([media_entry("img", "prodia-v2", media_up)], client_token=CLIENT_TOKEN) as r:
        async with router_session() as s:
            status, _, raw, _ = await router_post(s, r, "img", "prodia-v2")
        assert r.state.slots.gates[model_id("img")[2:]].in_flight == 0
    assert status == 429  # the router reads a 429 as "no capacity"
    assert KEYS["prodia-v2"].encode() not in raw and b"[redacted]" in raw
    assert json.loads(raw)["error"]["type"] == "upstream_error"


@pytest.mark.parametrize(
    ("status", "type_"), [(422, "validation_error"), (400, "validation_error"), (500, "upstream_error")]
)
async def test_decisions_upstream_errors_are_sanitized(make_proxy, media_up, status, type_):
    media_up.knobs.status = status
    async with make_proxy([media_entry("dec", "decisions", media_up)], client_token=CLIENT_TOKEN) as r:
        async with router_session() as s:
            got, _, raw, _ = await router_post(s, r, "dec", "decisions")
    assert got == status
    err = json.loads(raw)["error"]
    assert err["type"] == type_ and err["code"] == status
    assert b"John Doe" not in raw and KEYS["decisions"].encode() not in raw


async def test_a_binary_answer_over_the_stream_cap_is_cut(make_proxy, media_up):
    async with make_proxy([media_entry("vid", "prodia-v2", media_up)], max_stream_bytes=1 * MB) as r:
        headers, body = router_request("prodia-v2", "inference.veo.fast.txt2vid.v1", "waves", CLIENT_TOKEN)
        async with router_session() as s, s.post(relay_url(r, "vid"), data=body, headers=headers) as resp:
            assert resp.status == 200  # headers went out before the cap was reached
            with pytest.raises(aiohttp.ClientPayloadError):
                await resp.read()
        media_up.knobs.declare_length = True
        async with router_session() as s:
            status, _, raw, _ = await router_post(s, r, "vid", "prodia-v2", prompt="waves")
        assert status == 502 and json.loads(raw)["error"]["code"] == "upstream_response_too_large"


async def test_relay_routing_and_auth_refusals(make_proxy, media_up, openai_up):
    models = [media_entry("dec", "decisions", media_up), entry("gpt-x", openai_up)]
    async with make_proxy(models, client_token=CLIENT_TOKEN) as r, router_session() as s:
        assert (await router_post(s, r, "dec", "decisions", key="wrong"))[0] == 401
        assert (await router_post(s, r, "nope", "decisions"))[0] == 404
        status, _, raw, _ = await router_post(s, r, "gpt-x", "decisions")
        assert status == 400 and json.loads(raw)["error"]["code"] == "wrong_endpoint"
        auth = {"Authorization": f"Bearer {CLIENT_TOKEN}"}
        async with s.get(relay_url(r, "dec"), headers=auth) as resp:
            assert resp.status == 405 and resp.headers["Allow"] == "POST"
        async with s.get(relay_url(r, "dec") + "/job/abc", headers=auth) as resp:
            assert resp.status == 404  # decisions has no jobs
        async with s.post(relay_url(r, "dec") + "/../x", headers=auth) as resp:
            assert resp.status == 404
        body = {**CHAT, "model": model_id("dec")}
        async with s.post(base_url(r) + "/chat/completions", json=body, headers=auth) as resp:
            assert resp.status == 400 and "/v1/relay/<model id>" in (await resp.json())["error"]["message"]
    assert media_up.seen == []


def test_a_job_id_is_one_segment_that_cannot_climb():
    from proxy.relay import _PATH

    base = "/v1/relay/0x" + "ab" * 32
    assert _PATH.match(base + "/job/3f2a-b9_c.1")
    for bad in ("/job/..", "/job/.", "/job/.x", "/job/a/b", "/job/", "/", "/job/a%2Fb"):
        assert _PATH.match(base + bad) is None, bad
