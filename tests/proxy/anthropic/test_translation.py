"""Golden tests of the OpenAI <-> Anthropic translation, for the cases other gateways got wrong."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from proxy.anthropic.options import ClaudeOptions
from proxy.anthropic.request import to_anthropic_request
from proxy.anthropic.response import to_openai_error, to_openai_response
from proxy.anthropic.stream import StreamTranslator
from proxy.exceptions import TranslationError
from proxy.sse import SSEParser

# A tool-using stream as Anthropic sends it (shape from the Messages streaming docs), split at awkward places.
TOOL_STREAM = (
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
    b'"content":[],"model":"claude-x","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2}}}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_9","name":"get_weather","input":{}}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\\"location\\": \\"San Fra"}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ncisco, CA\\", \\"unit\\": \\"fah"}}\n\n'
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"renheit\\"}"}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n'
    b'event: content_block_start\ndata: {"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_10","name":"now","input":{}}}\n\n'
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":2}\n\n'
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}\n\n'
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
)


def run_stream(raw: bytes, include_usage: bool, split: int = 37) -> list[str]:
    parser, tr, frames = SSEParser(), StreamTranslator(include_usage), []
    for i in range(0, len(raw), split):
        for event, data in parser.feed(raw[i : i + split]):
            frames.extend(tr.feed(event, data))
    return [f.decode() for f in frames]


def data_frames(frames: list[str]) -> list[dict]:
    return [json.loads(f[6:]) for f in frames if f.startswith("data: {")]


@pytest.mark.parametrize("split", [1, 7, 37, 10_000])
def test_streamed_tool_call_ends_with_tool_calls_and_complete_arguments(split):
    frames = run_stream(TOOL_STREAM, include_usage=False, split=split)
    chunks = data_frames(frames)
    assert frames[-1] == "data: [DONE]\n\n"
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == ["tool_calls"]
    calls: dict[int, dict] = {}
    for c in chunks:
        for tc in c["choices"][0]["delta"].get("tool_calls", []):
            slot = calls.setdefault(tc["index"], {"id": None, "name": None, "arguments": ""})
            slot["id"] = tc.get("id") or slot["id"]
            slot["name"] = tc.get("function", {}).get("name") or slot["name"]
            slot["arguments"] += tc.get("function", {}).get("arguments", "")
    assert calls[0]["id"] == "toolu_9" and calls[0]["name"] == "get_weather"
    assert json.loads(calls[0]["arguments"]) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert calls[1]["name"] == "now" and json.loads(calls[1]["arguments"]) == {}  # no-argument tool: still valid JSON
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Checking"
    assert ": ping\n\n" in frames  # Anthropic pings become SSE comments (keep-alive), not chunks


def test_include_usage_chunk_comes_before_done():
    frames = run_stream(TOOL_STREAM, include_usage=True)
    assert frames[-1] == "data: [DONE]\n\n"
    usage_chunk = json.loads(frames[-2][6:])
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {
        "prompt_tokens": 472,
        "completion_tokens": 89,
        "total_tokens": 561,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
    }
    assert all(c["usage"] is None for c in data_frames(frames[:-2]))
    assert "usage" not in data_frames(run_stream(TOOL_STREAM, include_usage=False))[0]


def test_stream_error_event_becomes_openai_error_then_done():
    raw = TOOL_STREAM.split(b"event: content_block_stop")[0] + (
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n'
    )
    frames = run_stream(raw, include_usage=True)
    assert json.loads(frames[-2][6:]) == {
        "error": {"message": "Overloaded", "type": "overloaded_error", "param": None, "code": None}
    }
    assert frames[-1] == "data: [DONE]\n\n"


def test_request_translation():
    body = {
        "model": "0xabc",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "and kind"}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": '{"x": 1}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "a cat"},
            {"role": "user", "content": "thanks"},
        ],
        "stop": "END",
        "temperature": 1.5,
        "top_p": 0.9,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "look",
                    "description": "look at it",
                    "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}},
                },
            }
        ],
        "tool_choice": "required",
        "parallel_tool_calls": False,
        "user": "buyer-1",
    }
    out = to_anthropic_request(body, "claude-x", 4096, ClaudeOptions.from_parameters({"forwardSampling": "true"}))
    assert out["model"] == "claude-x" and out["max_tokens"] == 4096
    assert out["system"] == "be brief\n\nand kind"
    assert out["stop_sequences"] == ["END"] and out["temperature"] == 1.0 and "top_p" not in out  # never both
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert out["tools"][0]["input_schema"]["properties"]["x"]["type"] == "integer"
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["user", "assistant", "user"]  # tool result and the next user turn merged
    assert out["messages"][0]["content"][1]["source"] == {
        "type": "base64",
        "media_type": "image/png",
        "data": "iVBORw0KGgo=",
    }
    assert out["messages"][1]["content"] == [{"type": "tool_use", "id": "call_1", "name": "look", "input": {"x": 1}}]
    assert out["messages"][2]["content"][0] == {"type": "tool_result", "tool_use_id": "call_1", "content": "a cat"}
    assert out["metadata"] == {"user_id": "buyer-1"}
    assert (
        to_anthropic_request({"messages": [{"role": "user", "content": "x"}], "max_tokens": 7}, "m", 4096)["max_tokens"]
        == 7
    )
    assert to_anthropic_request(body, "claude-x", 4096)["temperature"] == 1.0  # forwarded by default


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, "n"),
        ({"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]}, "messages[0].content[0]"),
        ({"messages": [{"role": "function", "content": "x"}]}, "messages[0].role"),
    ],
)
def test_untranslatable_requests_name_the_param(body, param):
    with pytest.raises(TranslationError) as e:
        to_anthropic_request(body, "m", 100)
    assert e.value.param == param


def test_response_and_error_translation():
    msg = {
        "id": "msg_1",
        "model": "claude-x",
        "content": [{"type": "text", "text": "hi"}, {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": "é"}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 5, "output_tokens": 3, "cache_read_input_tokens": 2},
    }
    out = to_openai_response(msg)
    choice = out["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] == "hi"
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {"a": "é"}
    assert out["usage"]["prompt_tokens"] == 7 and out["usage"]["total_tokens"] == 10
    assert to_openai_response({**msg, "stop_reason": "max_tokens"})["choices"][0]["finish_reason"] == "length"
    status, err = to_openai_error(529, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')
    assert status == 503 and err["error"]["type"] == "overloaded_error"
    status, err = to_openai_error(502, b"<html>bad gateway</html>")
    assert status == 502 and err["error"]["type"] == "upstream_error"


@given(st.lists(st.integers(min_value=1, max_value=len(TOOL_STREAM)), max_size=12), st.booleans())
def test_any_split_and_line_ending_gives_the_same_frames(cuts, crlf):
    raw = TOOL_STREAM.replace(b"\n", b"\r\n") if crlf else TOOL_STREAM
    points = sorted({min(c, len(raw)) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    parser, tr, frames = SSEParser(), StreamTranslator(True), []
    for piece in pieces:
        for event, data in parser.feed(piece):
            frames.extend(tr.feed(event, data))
    expected = run_stream(TOOL_STREAM, include_usage=True, split=len(TOOL_STREAM))

    def shape(f: str) -> object:
        return json.loads(f[6:]).get("choices") if f.startswith("data: {") else f

    assert [shape(f.decode()) for f in frames] == [shape(f) for f in expected]
