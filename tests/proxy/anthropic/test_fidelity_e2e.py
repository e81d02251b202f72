"""Issue 18 end to end, one test per row: the real `openai` client -> forwarder -> an Anthropic stub that checks
every request against the `anthropic` SDK's request types (and answers like the API does to what it refuses)."""

from __future__ import annotations

import logging
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from tests.support.fwd_helpers import base_url, entry
from tests.support.fwd_stubs import Upstream

HI = [{"role": "user", "content": "hi"}]


def claude(up: Upstream, **parameters: str) -> dict[str, Any]:
    return entry("claude-x", up, api_type="claudeai", **({"parameters": parameters} if parameters else {}))


def client_for(r: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)


def sent(up: Upstream) -> dict[str, Any]:
    return up.requests[-1]["body"]


def extra(obj: Any, name: str) -> Any:
    return (obj.model_extra or {}).get(name)


async def test_row1_both_sampling_fields_send_temperature_only(anthropic_up, make_proxy):
    async with make_proxy([claude(anthropic_up, forwardSampling="true")]) as r, client_for(r) as client:
        res = await client.chat.completions.create(model="claude-x", messages=HI, temperature=1.5, top_p=0.9)
        assert res.choices[0].message.content
        assert anthropic_up.invalid == []
        assert sent(anthropic_up)["temperature"] == 1.0 and "top_p" not in sent(anthropic_up)


async def test_row2_temperature_forwarded_and_retried_once_without_it(anthropic_up, make_proxy, caplog):
    caplog.set_level(logging.INFO, logger="morpheus_proxy")
    async with make_proxy([claude(anthropic_up)]) as r, client_for(r) as client:
        await client.chat.completions.create(model="claude-x", messages=HI, temperature=0)
        assert sent(anthropic_up)["temperature"] == 0 and anthropic_up.invalid == []
        anthropic_up.knobs.reject_temperature = True  # the newest models answer 400 to any temperature
        before = len(anthropic_up.requests)
        res = await client.chat.completions.create(model="claude-x", messages=HI, temperature=0.2)
        assert res.choices[0].message.content
        assert [("temperature" in q["body"]) for q in anthropic_up.requests[before:]] == [True, False]
        stream = await client.chat.completions.create(model="claude-x", messages=HI, temperature=0.2, stream=True)
        assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        assert len(anthropic_up.requests) == before + 3  # remembered: no second refused attempt
        assert "temperature" not in sent(anthropic_up)
        notes = [rec for rec in caplog.records if "accept temperature" in rec.getMessage()]
        assert len(notes) == 1 and "claude-x" in notes[0].getMessage()


async def test_row2_forward_sampling_false_still_turns_it_off(anthropic_up, make_proxy):
    async with make_proxy([claude(anthropic_up, forwardSampling="false")]) as r, client_for(r) as client:
        await client.chat.completions.create(model="claude-x", messages=HI, temperature=0.2, top_p=0.5)
        assert "temperature" not in sent(anthropic_up) and "top_p" not in sent(anthropic_up)


class Place(BaseModel):
    city: str
    population: int


async def test_row3_structured_output_through_the_parse_helper(anthropic_up, make_proxy):
    anthropic_up.knobs.reply_text = '{"city": "Paris", "population": 2100000}'
    async with make_proxy([claude(anthropic_up)]) as r, client_for(r) as client:
        res = await client.chat.completions.parse(model="claude-x", messages=HI, response_format=Place)
        assert res.choices[0].message.parsed == Place(city="Paris", population=2100000)
        assert anthropic_up.invalid == []
        fmt = sent(anthropic_up)["output_config"]["format"]
        assert fmt["type"] == "json_schema" and fmt["schema"]["required"] == ["city", "population"]
        n = len(anthropic_up.requests)
        with pytest.raises(openai.BadRequestError) as e:
            await client.chat.completions.create(model="claude-x", messages=HI, response_format={"type": "json_object"})
        assert e.value.param == "response_format" and len(anthropic_up.requests) == n


async def test_row4_prompt_caching_and_cache_writes(anthropic_up, make_proxy):
    anthropic_up.knobs.cache_write = 40
    off = {"promptCaching": "false"}
    models = [claude(anthropic_up), entry("claude-nocache", anthropic_up, api_type="claudeai", parameters=off)]
    async with make_proxy(models) as r, client_for(r) as client:
        res = await client.chat.completions.create(model="claude-x", messages=HI)
        assert sent(anthropic_up)["cache_control"] == {"type": "ephemeral"} and anthropic_up.invalid == []
        assert res.usage is not None and res.usage.prompt_tokens == 11 + 2 + 40
        details = res.usage.prompt_tokens_details
        assert details is not None and (details.cached_tokens, details.cache_write_tokens) == (2, 40)
        stream = await client.chat.completions.create(
            model="claude-x", messages=HI, stream=True, stream_options={"include_usage": True}
        )
        last = [c async for c in stream][-1]
        assert last.usage is not None and last.usage.prompt_tokens_details is not None
        assert last.usage.prompt_tokens_details.cache_write_tokens == 40
        await client.chat.completions.create(model="claude-nocache", messages=HI)
        assert "cache_control" not in sent(anthropic_up)


async def test_row5_history_with_cut_off_tool_arguments_continues(anthropic_up, make_proxy):
    history = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Pa'}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "error: arguments were cut off"},
    ]
    async with make_proxy([claude(anthropic_up)]) as r, client_for(r) as client:
        res = await client.chat.completions.create(model="claude-x", messages=history)  # type: ignore[arg-type]
        assert res.choices[0].message.content and anthropic_up.invalid == []
        blocks = sent(anthropic_up)["messages"][1]["content"]
        assert blocks[-1]["input"] == {} and '{"city": "Pa' in blocks[0]["text"]


async def test_row6_empty_user_content_is_not_sent_as_an_empty_block(anthropic_up, make_proxy):
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": ""},
        {"role": "user", "content": "still there?"},
    ]
    async with make_proxy([claude(anthropic_up)]) as r, client_for(r) as client:
        res = await client.chat.completions.create(model="claude-x", messages=history)  # type: ignore[arg-type]
        assert res.choices[0].message.content and anthropic_up.invalid == []
        assert sent(anthropic_up)["messages"][-1]["content"] == [{"type": "text", "text": "still there?"}]


async def test_an_empty_first_user_message_still_starts_with_a_user_turn(anthropic_up, make_proxy):
    """The empty block was left out and Anthropic answered 400 `messages: first message must use the "user"
    role` (the stub refuses an assistant first turn and empty text, as the API does)."""
    history = [
        {"role": "user", "content": ""},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "again"},
    ]
    async with make_proxy([claude(anthropic_up)]) as r, client_for(r) as client:
        res = await client.chat.completions.create(model="claude-x", messages=history)  # type: ignore[arg-type]
        assert res.choices[0].message.content and anthropic_up.invalid == []
        assert [m["role"] for m in sent(anthropic_up)["messages"]] == ["user", "assistant", "user"]


async def test_row7_reasoning_effort_and_reasoning_content(anthropic_up, make_proxy):
    anthropic_up.knobs.reply = "thinking"
    anthropic_up.knobs.thinking_tokens = 3
    off = {"reasoning": "false"}
    models = [claude(anthropic_up), entry("claude-plain", anthropic_up, api_type="claudeai", parameters=off)]
    async with make_proxy(models) as r, client_for(r) as client:
        res = await client.chat.completions.create(model="claude-x", messages=HI, reasoning_effort="low")
        assert sent(anthropic_up)["output_config"] == {"effort": "low"} and anthropic_up.invalid == []
        assert extra(res.choices[0].message, "reasoning_content") == "Let me think about Paris."
        assert res.usage is not None and res.usage.completion_tokens_details is not None
        assert res.usage.completion_tokens_details.reasoning_tokens == 3
        stream = await client.chat.completions.create(
            model="claude-x", messages=HI, reasoning_effort="minimal", stream=True
        )
        chunks = [c async for c in stream if c.choices]
        assert sent(anthropic_up)["output_config"] == {"effort": "low"}
        assert (
            "".join(extra(c.choices[0].delta, "reasoning_content") or "" for c in chunks) == "Let me think about Paris."
        )
        assert "".join(c.choices[0].delta.content or "" for c in chunks) == "tok0 tok1 tok2 tok3 "
        res = await client.chat.completions.create(model="claude-plain", messages=HI, reasoning_effort="high")
        assert "output_config" not in sent(anthropic_up)
        assert extra(res.choices[0].message, "reasoning_content") is None


async def test_row8_strict_tool(anthropic_up, make_proxy):
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "strict": True,
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
    anthropic_up.knobs.reply = "tool"
    async with make_proxy([claude(anthropic_up)]) as r, client_for(r) as client:
        res = await client.chat.completions.create(model="claude-x", messages=HI, tools=[tool])  # type: ignore[list-item]
        assert res.choices[0].finish_reason == "tool_calls" and anthropic_up.invalid == []
        assert sent(anthropic_up)["tools"][0]["strict"] is True


@pytest.mark.parametrize(
    ("status", "message", "exc", "code"),
    [
        (400, "prompt is too long: 210000 tokens > 200000 maximum", openai.BadRequestError, "context_length_exceeded"),
        (413, "Request exceeds the maximum allowed number of bytes.", openai.APIStatusError, "context_length_exceeded"),
        (429, "rate limited", openai.RateLimitError, "rate_limit_exceeded"),
    ],
)
async def test_row9_error_codes_reach_the_client(anthropic_up, make_proxy, status, message, exc, code):
    anthropic_up.knobs.status, anthropic_up.knobs.error_message = status, message
    async with make_proxy([claude(anthropic_up)], failure_budget=0) as r, client_for(r) as client:
        for stream in (False, True):
            with pytest.raises(exc) as e:
                await client.chat.completions.create(model="claude-x", messages=HI, stream=stream)
            assert e.value.code == code and e.value.message.endswith(message)


async def test_row10_jpg_images_and_pdf_files(anthropic_up, make_proxy):
    content = [
        {"type": "text", "text": "compare"},
        {"type": "image_url", "image_url": {"url": "data:image/jpg;base64,/9j/4AAQSkZJRg=="}},
        {"type": "file", "file": {"filename": "spec.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQ="}},
    ]
    async with make_proxy([claude(anthropic_up)]) as r, client_for(r) as client:
        res = await client.chat.completions.create(model="claude-x", messages=[{"role": "user", "content": content}])  # type: ignore[misc,list-item]
        assert res.choices[0].message.content and anthropic_up.invalid == []
        blocks = sent(anthropic_up)["messages"][0]["content"]
        assert blocks[1]["source"]["media_type"] == "image/jpeg"
        assert blocks[2]["type"] == "document" and blocks[2]["source"]["media_type"] == "application/pdf"


async def test_row11_logprobs_is_a_400_before_any_upstream_call(anthropic_up, make_proxy):
    async with make_proxy([claude(anthropic_up)]) as r, client_for(r) as client:
        with pytest.raises(openai.BadRequestError) as e:
            await client.chat.completions.create(model="claude-x", messages=HI, logprobs=True, top_logprobs=2)
        assert e.value.param == "logprobs" and anthropic_up.requests == []
