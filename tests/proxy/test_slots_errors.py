"""Slots (429 + Retry-After, no leaks on any path), timeouts, upstream failures, keep-alives, failure budget."""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import pytest

from tests.support.fwd_helpers import CHAT, base_url, entry, eventually, in_flight, model_id, post


async def test_n_plus_one_concurrent_on_n_slots_gives_one_429(openai_up, make_proxy):
    openai_up.knobs.latency = 0.3
    async with make_proxy([entry("gpt-x", openai_up, slots=3)]) as r, aiohttp.ClientSession() as s:
        results = await asyncio.gather(*(post(s, r, CHAT) for _ in range(4)))
        statuses = sorted(st for st, _, _ in results)
        assert statuses == [200, 200, 200, 429]
        _, headers, body = next(x for x in results if x[0] == 429)
        assert headers["Retry-After"] == "1"
        assert body["error"]["code"] == "slots_full" and body["error"]["type"] == "rate_limit_error"
        assert in_flight(r) == 0
        assert (await post(s, r, CHAT))[0] == 200  # all slots usable again


async def test_wait_queue_lets_a_request_wait_for_a_slot(openai_up, make_proxy):
    openai_up.knobs.latency = 0.1
    async with (
        make_proxy([entry("gpt-x", openai_up, slots=1)], wait_queue=1, wait_timeout=5.0) as r,
        aiohttp.ClientSession() as s,
    ):
        results = await asyncio.gather(*(post(s, r, CHAT) for _ in range(3)))
        assert sorted(st for st, _, _ in results) == [200, 200, 429]
        assert in_flight(r) == 0


async def test_client_disconnect_mid_stream_frees_the_slot_and_cancels_upstream(openai_up, make_proxy):
    openai_up.knobs.deltas = 200
    openai_up.knobs.delta_gap = 0.05
    async with make_proxy([entry("gpt-x", openai_up, slots=1)]) as r:
        async with aiohttp.ClientSession() as s:
            resp = await s.post(base_url(r) + "/chat/completions", json={**CHAT, "stream": True})
            assert resp.status == 200
            assert (await resp.content.readline()).startswith(b"data: ")
            assert in_flight(r) == 1
            resp.close()  # the client goes away mid-stream
        await eventually(lambda: in_flight(r) == 0)
        await eventually(lambda: openai_up.active == 0)
        assert openai_up.completed == 0  # the upstream request was cut, not run to its end
        async with aiohttp.ClientSession() as s:
            assert (await post(s, r, CHAT))[0] == 200


async def test_client_disconnect_while_waiting_for_a_non_stream_answer(openai_up, make_proxy):
    openai_up.knobs.hang = True
    async with make_proxy([entry("gpt-x", openai_up, slots=1)]) as r:
        async with aiohttp.ClientSession() as s:
            task = asyncio.ensure_future(post(s, r, CHAT))
            await eventually(lambda: openai_up.active == 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        await eventually(lambda: in_flight(r) == 0)
        await eventually(lambda: openai_up.active == 0)


async def test_upstream_drops_connection_mid_stream(openai_up, make_proxy):
    openai_up.knobs.drop_after = 2
    openai_up.knobs.delta_gap = 0.05
    async with make_proxy([entry("gpt-x", openai_up, slots=1)]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        stream = await client.chat.completions.create(**CHAT, stream=True)  # type: ignore[call-overload]
        got = []
        with pytest.raises(openai.APIError) as e:
            async for chunk in stream:
                got.append(chunk.choices[0].delta.content)
        assert got == ["tok0 ", "tok1 "] and "upstream" in e.value.message
        assert in_flight(r) == 0
        await client.close()


async def test_upstream_drops_binary_speech_stream(openai_up, make_proxy):
    openai_up.knobs.drop_after = 2
    openai_up.knobs.deltas = 6
    openai_up.knobs.delta_gap = 0.05
    async with make_proxy([entry("tts", openai_up, kind="audio/speech", slots=1)]) as r, aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientPayloadError):
            async with s.post(
                base_url(r) + "/audio/speech", json={"model": "tts", "input": "x", "voice": "alloy"}
            ) as resp:
                await resp.read()
        await eventually(lambda: in_flight(r, "tts") == 0)


async def test_ttfb_timeout_is_504_and_frees_the_slot(openai_up, make_proxy):
    openai_up.knobs.hang = True
    async with make_proxy([entry("gpt-x", openai_up, slots=1)], ttfb_timeout=0.3) as r, aiohttp.ClientSession() as s:
        status, _, body = await post(s, r, CHAT)
        assert status == 504 and body["error"]["code"] == "upstream_timeout_ttfb"
        assert in_flight(r) == 0


async def test_idle_stream_is_ended_and_frees_the_slot(openai_up, make_proxy):
    openai_up.knobs.deltas = 3
    openai_up.knobs.delta_gap = 2.0
    async with make_proxy([entry("gpt-x", openai_up, slots=1)], idle_timeout=0.3) as r, aiohttp.ClientSession() as s:
        async with s.post(base_url(r) + "/chat/completions", json={**CHAT, "stream": True}) as resp:
            text = (await resp.read()).decode()
        assert "tok0" in text and "upstream_timeout_idle" in text and text.endswith("data: [DONE]\n\n")
        assert in_flight(r) == 0


async def test_total_timeout(openai_up, make_proxy):
    openai_up.knobs.deltas = 50
    openai_up.knobs.delta_gap = 0.05
    async with make_proxy([entry("gpt-x", openai_up, slots=1)], total_timeout=0.4) as r, aiohttp.ClientSession() as s:
        async with s.post(base_url(r) + "/chat/completions", json={**CHAT, "stream": True}) as resp:
            text = (await resp.read()).decode()
        assert "upstream_timeout_total" in text
        assert in_flight(r) == 0


async def test_connect_failure_is_502(openai_up, make_proxy):
    bad = entry("gpt-x", openai_up, slots=1)
    bad["apiUrl"] = "http://127.0.0.1:9/v1/chat/completions"  # discard port: nothing listens
    async with make_proxy([bad]) as r, aiohttp.ClientSession() as s:
        status, _, body = await post(s, r, CHAT)
        assert status == 502 and body["error"]["code"] == "upstream_unreachable"
        assert in_flight(r) == 0


@pytest.mark.parametrize(("status", "non_json"), [(500, False), (429, False), (503, True), (400, False)])
async def test_upstream_error_status_and_body_pass_back(openai_up, make_proxy, status, non_json):
    openai_up.knobs.status = status
    openai_up.knobs.non_json_error = non_json
    async with make_proxy([entry("gpt-x", openai_up, slots=1)], failure_budget=0) as r, aiohttp.ClientSession() as s:
        for stream in (False, True):
            got, headers, body = await post(s, r, {**CHAT, "stream": stream})
            assert got == status
            assert headers.get("Retry-After") == ("1" if status == 429 else None)  # the upstream's hint passes on
            if non_json:
                assert body["error"] == {
                    "message": "upstream exploded",
                    "type": "upstream_error",
                    "param": None,
                    "code": None,
                }
            else:
                assert body["error"]["message"] == f"stub error {status}"
        assert in_flight(r) == 0


async def test_failure_budget_stops_sending_to_a_failing_upstream(openai_up, make_proxy):
    openai_up.knobs.status = 500
    async with (
        make_proxy([entry("gpt-x", openai_up)], failure_budget=3, failure_window=60) as r,
        aiohttp.ClientSession() as s,
    ):
        statuses = [(await post(s, r, CHAT))[0] for _ in range(5)]
        assert statuses == [500, 500, 500, 503, 503]
        assert len(openai_up.requests) == 3  # the last two never reached the upstream
        _, headers, body = await post(s, r, CHAT)
        assert body["error"]["code"] == "upstream_failure_budget" and int(headers["Retry-After"]) >= 1
        # Bad requests from buyers (400) do not count against the account.
    openai_up.knobs.status = 400
    openai_up.requests.clear()
    async with (
        make_proxy([entry("gpt-x", openai_up)], failure_budget=2, failure_window=60) as r,
        aiohttp.ClientSession() as s,
    ):
        assert [(await post(s, r, CHAT))[0] for _ in range(4)] == [400] * 4


async def test_sse_keepalive_comments_while_waiting_for_first_token(openai_up, make_proxy):
    openai_up.knobs.first_token_delay = 0.5
    async with make_proxy([entry("gpt-x", openai_up)], keepalive_interval=0.1) as r, aiohttp.ClientSession() as s:
        async with s.post(base_url(r) + "/chat/completions", json={**CHAT, "stream": True}) as resp:
            text = (await resp.read()).decode()
        assert text.startswith(": keep-alive\n\n") and "tok3" in text and text.endswith("data: [DONE]\n\n")
    openai_up.knobs.first_token_delay = 0
    openai_up.knobs.latency = 0.5  # slow headers too
    async with make_proxy([entry("gpt-x", openai_up)], keepalive_interval=0.1) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        stream = await client.chat.completions.create(**CHAT, stream=True)  # type: ignore[call-overload]
        assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]) == "tok0 tok1 tok2 tok3 "
        await client.close()


async def test_bad_requests_are_openai_shaped(openai_up, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up)]) as r, aiohttp.ClientSession() as s:
        async with s.post(base_url(r) + "/chat/completions", data=b"{nope") as resp:
            assert resp.status == 400 and (await resp.json())["error"]["code"] == "invalid_json"
        assert (await post(s, r, {"messages": []}))[2]["error"]["code"] == "missing_model"
        status, _, body = await post(s, r, CHAT, path="/completions")
        assert status == 404 and body["error"]["type"] == "not_found_error"
        async with s.get(base_url(r) + "/chat/completions") as resp:
            assert resp.status == 405 and resp.headers["Allow"] == "POST"
            assert (await resp.json())["error"]["code"] == "http_405"
        async with s.head(base_url(r) + "/models") as resp:
            assert resp.status == 200  # HEAD where GET is served, as aiohttp's router allows
        async with s.post(base_url(r) + "/audio/transcriptions", json=CHAT) as resp:
            assert resp.status == 400


async def test_metrics_count_requests_rejections_and_tokens(openai_up, make_proxy):
    openai_up.knobs.latency = 0.2
    async with make_proxy([entry("gpt-x", openai_up, slots=1)]) as r, aiohttp.ClientSession() as s:
        await asyncio.gather(post(s, r, CHAT), post(s, r, CHAT))
        async with s.get(f"http://127.0.0.1:{r.admin_port}/metrics") as resp:
            text = await resp.text()
        assert f'morpheus_proxy_requests_total{{model="gpt-x",model_id="{model_id("gpt-x")}",status="200"}} 1' in text
        assert 'morpheus_proxy_rejections_total{reason="slots_full"} 1' in text
        assert (
            f'morpheus_proxy_tokens_total{{model="gpt-x",model_id="{model_id("gpt-x")}",type="completion"}} 4' in text
        )
        assert f'morpheus_proxy_capacity{{model="gpt-x",model_id="{model_id("gpt-x")}"}} 1' in text
        assert (
            "morpheus_proxy_request_duration_seconds_bucket" in text and "morpheus_proxy_config_info{version=" in text
        )


async def test_one_pooled_keepalive_connection_for_sequential_requests(openai_up, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up)]) as r, aiohttp.ClientSession() as s:
        for stream in (False, True) * 5:
            assert (await post(s, r, {**CHAT, "stream": stream}))[0] == 200
        assert len(openai_up.peers) == 1  # no per-request session or connection
        async with s.get(f"http://127.0.0.1:{r.admin_port}/metrics") as resp:
            text = await resp.text()
        upstream = openai_up.url
        assert f'morpheus_proxy_upstream_connects_total{{upstream="{upstream}"}} 1' in text
        assert f'morpheus_proxy_upstream_connections{{upstream="{upstream}",state="idle"}} 1' in text
        assert f'morpheus_proxy_upstream_connections{{upstream="{upstream}",state="busy"}} 0' in text


async def test_stream_usage_is_counted_and_secrets_never_logged(openai_up, make_proxy, caplog):
    import logging

    from tests.support.fwd_helpers import CLIENT_TOKEN
    from tests.support.fwd_stubs import UPSTREAM_KEY

    caplog.set_level(logging.DEBUG)
    async with make_proxy([entry("gpt-x", openai_up)], client_token=CLIENT_TOKEN) as r:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {CLIENT_TOKEN}"}) as s:
            body = {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
            assert (await post(s, r, body))[0] == 200
            openai_up.knobs.status = 500
            assert (await post(s, r, CHAT))[0] == 500
            async with s.get(f"http://127.0.0.1:{r.admin_port}/metrics") as resp:
                text = await resp.text()
        assert f'morpheus_proxy_tokens_total{{model="gpt-x",model_id="{model_id("gpt-x")}",type="prompt"}} 3' in text
        r.state.reload("admin")
    assert UPSTREAM_KEY not in caplog.text and CLIENT_TOKEN not in caplog.text


async def test_too_large_body_is_413_openai_shaped(openai_up, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up)], max_body_bytes=1024) as r, aiohttp.ClientSession() as s:
        big = {**CHAT, "messages": [{"role": "user", "content": "x" * 4096}]}
        status, _, body = await post(s, r, big)
        assert status == 413 and body["error"]["code"] == "http_413"
        assert openai_up.requests == []


async def test_upstream_cookies_are_never_replayed_on_later_requests(make_proxy):
    """The pooled upstream client keeps no cookie jar: a Set-Cookie from one buyer's request must not ride on
    the next buyer's request to the same upstream."""
    from types import SimpleNamespace

    from aiohttp import web

    seen: list[str | None] = []

    async def chat(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Cookie"))
        resp = web.json_response({"id": "x", "object": "chat.completion", "choices": []})
        resp.set_cookie("affinity", "buyer-one-session")
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        up = SimpleNamespace(url=f"http://localhost:{port}")  # a host name: cookie jars ignore IP hosts
        async with make_proxy([entry("gpt-x", up)]) as r, aiohttp.ClientSession() as s:
            for _ in range(3):
                assert (await post(s, r, CHAT))[0] == 200
    finally:
        await runner.cleanup()
    assert seen == [None, None, None]
