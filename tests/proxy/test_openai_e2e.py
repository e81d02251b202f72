"""End to end with the official openai SDK (sync, async, streaming) through the forwarder to an OpenAI-shaped stub."""

from __future__ import annotations

import asyncio

import openai
import pytest

from tests.support.fwd_helpers import CLIENT_TOKEN, base_url, entry, model_id
from tests.support.fwd_stubs import UPSTREAM_KEY


async def test_async_chat_by_id_and_by_name(openai_up, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up)]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        for model in (model_id("gpt-x"), model_id("gpt-x")[2:].upper(), "gpt-x"):
            res = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
            assert res.choices[0].message.content == "tok0 tok1 tok2 tok3 "
            assert res.usage is not None and res.usage.total_tokens == 7
        sent = openai_up.requests[-1]
        assert sent["body"]["model"] == "gpt-x"  # the entry's modelName replaces the routing key
        assert sent["headers"]["Authorization"] == f"Bearer {UPSTREAM_KEY}"
        raw = await client.chat.completions.with_raw_response.create(
            model="gpt-x", messages=[{"role": "user", "content": "hi"}]
        )
        assert float(raw.headers["x-proxy-overhead-ms"]) >= 0
        await client.close()


async def test_sync_client_streaming_and_usage(openai_up, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up)]) as r:

        def call() -> tuple[str, object]:
            with openai.OpenAI(base_url=base_url(r), api_key="unused", max_retries=0) as client:
                text, usage = "", None
                stream = client.chat.completions.create(
                    model="gpt-x",
                    messages=[{"role": "user", "content": "hi"}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
                for chunk in stream:
                    if chunk.choices and chunk.choices[0].delta.content:
                        text += chunk.choices[0].delta.content
                    if chunk.usage:
                        usage = chunk.usage
                return text, usage

        text, usage = await asyncio.to_thread(call)
        assert text == "tok0 tok1 tok2 tok3 "
        assert usage is not None


async def test_async_stream_arrives_incrementally(openai_up, make_proxy):
    openai_up.knobs.deltas = 5
    openai_up.knobs.delta_gap = 0.05
    async with make_proxy([entry("gpt-x", openai_up)]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        seen_while_upstream_active = 0
        stream = await client.chat.completions.create(
            model="gpt-x", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        parts = []
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
                seen_while_upstream_active += openai_up.active
        assert "".join(parts) == "tok0 tok1 tok2 tok3 tok4 "
        assert seen_while_upstream_active >= 3  # chunks reached us while the upstream was still writing: no buffering
        await client.close()


async def test_embeddings_speech_transcriptions_models(openai_up, make_proxy):
    models = [
        entry("emb", openai_up, kind="embeddings"),
        entry("tts", openai_up, kind="audio/speech"),
        entry("stt", openai_up, kind="audio/transcriptions"),
    ]
    openai_up.knobs.deltas = 6
    async with make_proxy(models) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        emb = await client.embeddings.create(model="emb", input="hello")
        assert emb.data[0].embedding == [0.25, -0.5, 1.0]
        audio = await client.audio.speech.create(model="tts", voice="alloy", input="hello")
        data = audio.content
        assert len(data) == 6 * 1024 and data[1024:1025] == b"\x01"
        tr = await client.audio.transcriptions.create(model="stt", file=("a.wav", b"RIFF" + b"\0" * 100), language="en")
        assert tr.text == "model=stt file=a.wav bytes=104"
        assert openai_up.requests[-1]["body"]["language"] == "en"
        listed = await client.models.list()
        assert sorted(m.id for m in listed.data) == sorted(model_id(n) for n in ("emb", "tts", "stt"))
        await client.close()


async def test_wrong_endpoint_unknown_and_ambiguous_model(openai_up, make_proxy):
    models = [
        entry("emb", openai_up, kind="embeddings"),
        entry("dup", openai_up),
        entry("dup2", openai_up, modelName="dup"),
    ]
    models[2]["modelName"] = "dup"
    async with make_proxy(models) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError) as e:
            await client.chat.completions.create(model="emb", messages=[{"role": "user", "content": "hi"}])
        assert "/v1/embeddings" in e.value.message and e.value.code == "wrong_endpoint"
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.BadRequestError) as e:
            await client.chat.completions.create(model="dup", messages=[{"role": "user", "content": "hi"}])
        assert model_id("dup") in e.value.message and model_id("dup2") in e.value.message
        ok = await client.chat.completions.create(model=model_id("dup2"), messages=[{"role": "user", "content": "hi"}])
        assert ok.choices[0].message.content
        assert openai_up.requests[-1]["body"]["model"] == "dup"
        await client.close()


async def test_client_token_required_when_set(openai_up, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up)], client_token=CLIENT_TOKEN) as r:
        bad = openai.AsyncOpenAI(base_url=base_url(r), api_key="wrong", max_retries=0)
        with pytest.raises(openai.AuthenticationError):
            await bad.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.AuthenticationError):
            await bad.models.list()
        good = openai.AsyncOpenAI(base_url=base_url(r), api_key=CLIENT_TOKEN, max_retries=0)
        res = await good.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
        assert res.choices[0].message.content
        assert (
            openai_up.requests[-1]["headers"]["Authorization"] == f"Bearer {UPSTREAM_KEY}"
        )  # client token not forwarded
        await bad.close()
        await good.close()
