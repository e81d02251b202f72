"""openai SDK -> forwarder -> Anthropic-shaped stub that checks every request against the anthropic SDK's types."""

from __future__ import annotations

import json

import openai
import pytest

from tests.support.fwd_helpers import base_url, entry

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def claude(up, **extra):
    return entry("claude-x", up, api_type="claudeai", **extra)


async def test_non_streaming_text_with_system_and_stop(anthropic_up, make_proxy):
    async with make_proxy([claude(anthropic_up)], default_max_tokens=777) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        res = await client.chat.completions.create(
            model="claude-x",
            messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}],
            stop=["END"],
            temperature=0.2,
        )
        assert anthropic_up.invalid == []
        assert res.choices[0].message.content == "tok0 tok1 tok2 tok3 "
        assert res.choices[0].finish_reason == "stop"
        assert res.usage is not None and (res.usage.prompt_tokens, res.usage.completion_tokens) == (13, 4)
        sent = anthropic_up.requests[-1]["body"]
        assert sent["system"] == "be brief" and sent["stop_sequences"] == ["END"] and sent["max_tokens"] == 777
        assert sent["temperature"] == 0.2  # forwarded by default (parameters.forwardSampling "false" turns it off)
        await client.close()


async def test_max_tokens_from_request_and_from_parameters(anthropic_up, make_proxy):
    async with make_proxy([claude(anthropic_up, parameters={"max_tokens": "321"})]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        await client.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": "hi"}])
        assert anthropic_up.requests[-1]["body"]["max_tokens"] == 321
        await client.chat.completions.create(
            model="claude-x", messages=[{"role": "user", "content": "hi"}], max_completion_tokens=55
        )
        assert anthropic_up.requests[-1]["body"]["max_tokens"] == 55
        await client.close()


async def test_streamed_text_with_include_usage(anthropic_up, make_proxy):
    async with make_proxy([claude(anthropic_up)]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        stream = await client.chat.completions.create(
            model="claude-x",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [c async for c in stream]
        assert anthropic_up.invalid == []
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "tok0 tok1 tok2 tok3 "
        assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4
        assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
        await client.close()


async def test_streamed_tool_call_round_trip_with_image(anthropic_up, make_proxy):
    anthropic_up.knobs.reply = "tool"
    async with make_proxy([claude(anthropic_up)]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        messages = [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "weather where this photo was taken?"},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRg=="}},
                ],
            }
        ]
        stream = await client.chat.completions.create(model="claude-x", messages=messages, tools=TOOLS, stream=True)
        args, name, call_id, finish = "", None, None, None
        async for chunk in stream:
            choice = chunk.choices[0]
            for tc in choice.delta.tool_calls or []:
                call_id = tc.id or call_id
                name = (tc.function.name if tc.function else None) or name
                args += (tc.function.arguments or "") if tc.function else ""
            finish = choice.finish_reason or finish
        assert finish == "tool_calls" and name == "get_weather" and call_id == "toolu_01"
        assert json.loads(args) == {"city": "Paris", "unit": "celsius", "days": [1, 2, 3]}
        # Send the tool result back (non-streaming): assistant tool_calls + tool message must validate too.
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}],
            },
            {"role": "tool", "tool_call_id": call_id, "content": "18C, sunny"},
        ]
        res = await client.chat.completions.create(model="claude-x", messages=messages, tools=TOOLS, tool_choice="auto")
        assert anthropic_up.invalid == []
        assert res.choices[0].finish_reason == "tool_calls"
        assert (
            res.choices[0].message.tool_calls
            and json.loads(res.choices[0].message.tool_calls[0].function.arguments)["city"] == "Paris"
        )  # type: ignore[union-attr]
        sent = anthropic_up.requests[-1]["body"]["messages"]
        assert [m["role"] for m in sent] == ["user", "assistant", "user"]
        assert sent[2]["content"][0]["type"] == "tool_result"
        await client.close()


@pytest.mark.parametrize(
    ("status", "exc", "type_"),
    [
        (429, openai.RateLimitError, "rate_limit_error"),
        (529, openai.InternalServerError, "overloaded_error"),
        (400, openai.BadRequestError, "invalid_request_error"),
    ],
)
async def test_anthropic_errors_become_openai_errors(anthropic_up, make_proxy, status, exc, type_):
    anthropic_up.knobs.status = status
    async with make_proxy([claude(anthropic_up)], failure_budget=0) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        for stream in (False, True):
            with pytest.raises(exc) as e:
                await client.chat.completions.create(
                    model="claude-x", messages=[{"role": "user", "content": "hi"}], stream=stream
                )
            assert e.value.type == type_
            assert e.value.status_code == (503 if status == 529 else status)
        await client.close()


async def test_untranslatable_request_is_a_400_before_any_upstream_call(anthropic_up, make_proxy):
    async with make_proxy([claude(anthropic_up)]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError) as e:
            await client.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": "hi"}], n=2)
        assert e.value.param == "n"
        assert anthropic_up.requests == []
        await client.close()


async def test_anthropic_stream_cut_mid_way_ends_with_an_error(anthropic_up, make_proxy):
    anthropic_up.knobs.drop_after = 2
    anthropic_up.knobs.delta_gap = 0.05
    async with make_proxy([claude(anthropic_up, concurrentSlots=1)]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        stream = await client.chat.completions.create(
            model="claude-x", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        got = []
        with pytest.raises(openai.APIError):
            async for chunk in stream:
                got.append(chunk.choices[0].delta.content)
        assert "tok1 " in got
        assert next(iter(r.state.slots.gates.values())).in_flight == 0
        await client.close()
