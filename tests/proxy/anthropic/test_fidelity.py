"""Golden tests for issue 18, one group per row: OpenAI request in -> Anthropic request out, Anthropic answer in ->
OpenAI answer out. Every translated request is also checked against the anthropic SDK's request types."""

from __future__ import annotations

import json
from typing import Any

import pytest

from proxy.anthropic.options import ClaudeOptions, rejects_temperature
from proxy.anthropic.request import to_anthropic_request
from proxy.anthropic.response import to_openai_error, to_openai_response
from proxy.anthropic.stream import StreamTranslator
from proxy.exceptions import TranslationError
from proxy.sse import SSEParser
from tests.support.fwd_stubs import PAIR_REJECTED, TEMPERATURE_REJECTED, validate_anthropic_request

USER = [{"role": "user", "content": "hi"}]


def translate(body: dict[str, Any], options: ClaudeOptions | None = None) -> dict[str, Any]:
    out = to_anthropic_request({"messages": USER, **body}, "claude-x", 1024, options or ClaudeOptions())
    problems = validate_anthropic_request(out)
    assert problems == [], problems
    return out


def refused(body: dict[str, Any], options: ClaudeOptions | None = None) -> str | None:
    with pytest.raises(TranslationError) as e:
        to_anthropic_request({"messages": USER, **body}, "claude-x", 1024, options or ClaudeOptions())
    return e.value.param


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def stream_chunks(raw: bytes, **kw: Any) -> list[dict[str, Any]]:
    parser, tr, frames = SSEParser(), StreamTranslator(**kw), []
    for event, data in parser.feed(raw):
        frames.extend(tr.feed(event, data))
    return [json.loads(f[6:]) for f in (fr.decode() for fr in frames) if f.startswith("data: {")]


def start(usage: dict[str, int] | None = None) -> dict[str, Any]:
    msg = {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "model": "claude-x"}
    return {"type": "message_start", "message": {**msg, "usage": usage or {"input_tokens": 5, "output_tokens": 1}}}


def text_block(index: int, text: str) -> list[dict[str, Any]]:
    return [
        {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}},
        {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}},
        {"type": "content_block_stop", "index": index},
    ]


def end(usage: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [
        {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage or {"output_tokens": 3}},
        {"type": "message_stop"},
    ]


def answer(*content: dict[str, Any], usage: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "model": "claude-x",
        "content": list(content),
        "stop_reason": "end_turn",
        "usage": usage or {"input_tokens": 5, "output_tokens": 3},
    }


# ---- row 1: never both temperature and top_p ----------------------------------------------------------------


def test_row1_temperature_wins_over_top_p_when_both_are_given():
    opted_in = ClaudeOptions.from_parameters({"forwardSampling": "true"})
    out = translate({"temperature": 1.5, "top_p": 0.9}, opted_in)
    assert out["temperature"] == 1.0 and "top_p" not in out
    assert translate({"top_p": 0.9}, opted_in)["top_p"] == 0.9  # top_p alone still goes when opted in
    assert "top_p" not in translate({"top_p": 0.9})  # by default only temperature is forwarded


# ---- row 2: temperature by default, retried without it when the model refuses it ----------------------------


def test_row2_temperature_forwarded_by_default_and_clamped():
    assert translate({"temperature": 0})["temperature"] == 0
    assert translate({"temperature": 1.7})["temperature"] == 1.0
    assert "temperature" not in translate({})
    off = ClaudeOptions.from_parameters({"forwardSampling": "false"})
    assert "temperature" not in translate({"temperature": 0.3, "top_p": 0.5}, off)
    assert "top_p" not in translate({"top_p": 0.5}, off)
    assert ClaudeOptions.from_parameters({}) == ClaudeOptions()


def test_row2_which_upstream_answers_mean_the_model_takes_no_temperature():
    def err(message: str) -> bytes:
        return json.dumps({"type": "error", "error": {"type": "invalid_request_error", "message": message}}).encode()

    assert rejects_temperature(400, err(TEMPERATURE_REJECTED))
    assert rejects_temperature(400, err("`temperature` is not supported for this model"))
    assert not rejects_temperature(400, err(PAIR_REJECTED))
    assert not rejects_temperature(400, err("max_tokens: must be at most 64000"))
    assert not rejects_temperature(429, err(TEMPERATURE_REJECTED))
    assert not rejects_temperature(400, b"<html>temperature deprecated</html>")


# ---- row 3: response_format --------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
    "additionalProperties": False,
}


def test_row3_json_schema_becomes_output_config_format():
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA, "strict": True}}
    out = translate({"response_format": fmt})
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": SCHEMA}}
    assert "output_config" not in translate({"response_format": {"type": "text"}})
    assert refused({"response_format": {"type": "json_object"}}) == "response_format"
    assert refused({"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}) == "response_format"
    # the answer is the JSON text, passed on as the message content
    res = to_openai_response(answer({"type": "text", "text": '{"city": "Paris"}'}))
    assert json.loads(res["choices"][0]["message"]["content"]) == {"city": "Paris"}


# ---- row 4: prompt caching ---------------------------------------------------------------------------------


def test_row4_prompt_caching_on_by_default_off_per_model():
    assert translate({})["cache_control"] == {"type": "ephemeral"}
    assert "cache_control" not in translate({}, ClaudeOptions.from_parameters({"promptCaching": "false"}))


def test_row4_cache_writes_reported_in_prompt_tokens_details():
    usage = {"input_tokens": 5, "output_tokens": 3, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 20}
    out = to_openai_response(answer({"type": "text", "text": "hi"}, usage=usage))["usage"]
    assert out["prompt_tokens"] == 125 and out["total_tokens"] == 128
    assert out["prompt_tokens_details"] == {"cached_tokens": 20, "cache_write_tokens": 100}
    raw = sse(start({**usage, "output_tokens": 1}), *text_block(0, "hi"), *end())
    last = stream_chunks(raw, include_usage=True)[-1]
    assert last["choices"] == [] and last["usage"]["prompt_tokens_details"]["cache_write_tokens"] == 100


# ---- row 5: assistant tool_calls with invalid JSON arguments ------------------------------------------------


@pytest.mark.parametrize("arguments", ['{"city": "Par', "[1, 2]", '"Paris"', "not json at all"])
def test_row5_invalid_tool_arguments_in_history_are_accepted(arguments):
    history = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": arguments}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "cut off"},
    ]
    out = translate({"messages": history})
    blocks = out["messages"][1]["content"]
    assert [b["type"] for b in blocks] == ["text", "text", "tool_use"]
    assert blocks[0]["text"] == "Checking."
    assert arguments in blocks[1]["text"] and "call_1" in blocks[1]["text"]
    assert blocks[2] == {"type": "tool_use", "id": "call_1", "name": "w", "input": {}}


# ---- row 6: no empty text blocks ---------------------------------------------------------------------------


def _texts(out: dict[str, Any]) -> list[str]:
    found = []
    for m in out["messages"]:
        for b in m["content"]:
            if b["type"] == "text":
                found.append(b["text"])
            inner = b.get("content")
            for sub in inner if isinstance(inner, list) else []:
                found.append(sub.get("text", "x"))
    return found


def test_row6_empty_text_blocks_are_never_sent():
    history = [
        {"role": "system", "content": ""},
        {"role": "user", "content": "hi"},
        {"role": "user", "content": ""},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": [{"type": "text", "text": "  "}, {"type": "text", "text": "look"}]},
        {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": ""}}]},
        {"role": "tool", "tool_call_id": "c1", "content": ""},
        {"role": "assistant", "content": " "},
        {"role": "user", "content": "and now?"},
    ]
    out = translate({"messages": history})
    assert "system" not in out
    assert all(t.strip() for t in _texts(out)), _texts(out)
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user", "assistant", "user"]
    assert out["messages"][0]["content"] == [{"type": "text", "text": "hi"}]
    assert out["messages"][3]["content"] == [{"type": "tool_use", "id": "c1", "name": "f", "input": {}}]
    assert out["messages"][4]["content"] == [
        {"type": "tool_result", "tool_use_id": "c1"},
        {"type": "text", "text": "and now?"},
    ]


def test_row6_an_empty_last_user_message_is_a_400_not_a_prefill():
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "yo"},
        {"role": "user", "content": ""},
    ]
    assert refused({"messages": history}) == "messages[2].content"


# An empty first user message: the conversation must still start with a user turn (issue 28, row 5).
EMPTY_FIRST = [
    {"role": "user", "content": ""},
    {"role": "assistant", "content": "ok"},
    {"role": "user", "content": "again"},
]


def test_a_conversation_that_would_start_with_the_assistant_gets_a_minimal_user_turn_first():
    out = translate({"messages": EMPTY_FIRST})  # checked like Anthropic does: a user turn first, no blank text
    assert out["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "ok"}]},
        {"role": "user", "content": [{"type": "text", "text": "again"}]},
    ]


# ---- row 7: reasoning_effort and thinking ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("effort", "sent"),
    [("minimal", "low"), ("low", "low"), ("medium", "medium"), ("high", "high"), ("xhigh", "xhigh"), ("max", "max")],
)
def test_row7_reasoning_effort_becomes_output_config_effort(effort, sent):
    assert translate({"reasoning_effort": effort})["output_config"] == {"effort": sent}
    off = ClaudeOptions.from_parameters({"reasoning": "false"})
    assert "output_config" not in translate({"reasoning_effort": effort}, off)


def test_row7_effort_none_is_left_out_and_effort_joins_a_format():
    assert "output_config" not in translate({"reasoning_effort": "none"})
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": SCHEMA}}
    out = translate({"reasoning_effort": "high", "response_format": fmt})
    assert out["output_config"] == {"effort": "high", "format": {"type": "json_schema", "schema": SCHEMA}}
    assert refused({"reasoning_effort": "extreme"}) == "reasoning_effort"


def test_row7_thinking_surfaces_as_reasoning_content():
    msg = answer(
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "text", "text": "Paris."},
        usage={"input_tokens": 5, "output_tokens": 30, "output_tokens_details": {"thinking_tokens": 20}},
    )
    out = to_openai_response(msg)
    assert out["choices"][0]["message"]["reasoning_content"] == "Let me think."
    assert out["choices"][0]["message"]["content"] == "Paris."
    assert out["usage"]["completion_tokens_details"] == {"reasoning_tokens": 20}
    hidden = to_openai_response(msg, reasoning=False)["choices"][0]["message"]
    assert "reasoning_content" not in hidden and hidden["content"] == "Paris."


def test_row7_streamed_thinking_surfaces_as_reasoning_content_deltas():
    thinking = [
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me"}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": " think."}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "sig"}},
        {"type": "content_block_stop", "index": 0},
    ]
    raw = sse(start(), *thinking, *text_block(1, "Paris."), *end())
    chunks = [c for c in stream_chunks(raw, include_usage=False) if c["choices"]]
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks)
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert (reasoning, content) == ("Let me think.", "Paris.")
    hidden = [c for c in stream_chunks(raw, include_usage=False, reasoning=False) if c["choices"]]
    assert not any("reasoning_content" in c["choices"][0]["delta"] for c in hidden)


# ---- row 8: strict tools -----------------------------------------------------------------------------------


def test_row8_strict_tools_are_passed_on():
    tool = {"type": "function", "function": {"name": "w", "parameters": SCHEMA, "strict": True}}
    loose = {"type": "function", "function": {"name": "v", "parameters": SCHEMA, "strict": None}}
    out = translate({"tools": [tool, loose]})
    assert out["tools"][0]["strict"] is True
    assert "strict" not in out["tools"][1]


# ---- row 9: OpenAI error codes -----------------------------------------------------------------------------


def _anthropic_error(type_: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": type_, "message": message}}).encode()


@pytest.mark.parametrize(
    ("status", "type_", "message", "out_status", "code"),
    [
        (400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum", 400, "context_length_exceeded"),
        (413, "request_too_large", "Request exceeds the maximum allowed number of bytes.", 413, "context_length_exceeded"),
        (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit", 429, "rate_limit_exceeded"),
        (401, "authentication_error", "invalid x-api-key", 401, "invalid_api_key"),
        (404, "not_found_error", "model: claude-nope", 404, "model_not_found"),
        (402, "billing_error", "credit balance too low", 402, "insufficient_quota"),
        (400, "invalid_request_error", "Your credit balance is too low to access the Anthropic API.", 400, "insufficient_quota"),
        # already right before issue 18: no code where OpenAI has none
        (529, "overloaded_error", "Overloaded", 503, None),
        (400, "invalid_request_error", "max_tokens: must be positive", 400, None),
    ],
)  # fmt: skip
def test_row9_anthropic_errors_carry_openai_codes(status, type_, message, out_status, code):
    got_status, body = to_openai_error(status, _anthropic_error(type_, message))
    assert got_status == out_status
    assert body["error"] == {"message": message, "type": type_, "param": None, "code": code}


def test_row9_stream_error_events_carry_openai_codes():
    raw = sse(start(), {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    err = stream_chunks(raw, include_usage=False)[-1]["error"]
    assert err["code"] == "rate_limit_exceeded" and err["type"] == "rate_limit_error"


# ---- row 10: image/jpg and PDF file parts ------------------------------------------------------------------


def _user_parts(*parts: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"type": "text", "text": "read this"}, *parts]}]


@pytest.mark.parametrize(
    "media_type",
    [
        "image/jpg",
        "image/JPG",
        "image/jpeg",
    ],
)
def test_row10_jpg_is_normalised_to_jpeg(media_type):
    part = {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,/9j/4AAQSkZJRg=="}}
    block = translate({"messages": _user_parts(part)})["messages"][0]["content"][1]
    assert block["source"] == {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}


def test_row10_pdf_file_parts_become_document_blocks():
    as_url = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQ="}}
    bare = {"type": "file", "file": {"filename": "b.PDF", "file_data": "JVBERi0xLjQ="}}
    blocks = translate({"messages": _user_parts(as_url, bare)})["messages"][0]["content"]
    source = {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQ="}
    assert blocks[1] == {"type": "document", "source": source, "title": "a.pdf"}
    assert blocks[2] == {"type": "document", "source": source, "title": "b.PDF"}
    by_id = {"type": "file", "file": {"file_id": "file-abc"}}
    assert refused({"messages": _user_parts(by_id)}) == "messages[0].content[1]"
    sheet = {"type": "file", "file": {"filename": "a.xlsx", "file_data": "data:application/vnd.ms-excel;base64,AAAA"}}
    assert refused({"messages": _user_parts(sheet)}) == "messages[0].content[1]"


# ---- row 11: logprobs ---------------------------------------------------------------------------------------


def test_row11_logprobs_are_refused():
    assert refused({"logprobs": True}) == "logprobs"
    assert refused({"logprobs": True, "top_logprobs": 3}) == "logprobs"
    assert refused({"top_logprobs": 2}) == "top_logprobs"
    assert "logprobs" not in translate({"logprobs": False, "top_logprobs": None})


# ---- found while writing the translation table -------------------------------------------------------------


def test_assistant_refusals_in_history_are_kept_as_text():
    refusal_part = {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help with that."}]}
    refusal_field = {"role": "assistant", "content": None, "refusal": "No."}
    for msg, text in ((refusal_part, "I can't help with that."), (refusal_field, "No.")):
        out = translate({"messages": [*USER, msg, {"role": "user", "content": "ok"}]})
        assert out["messages"][1] == {"role": "assistant", "content": [{"type": "text", "text": text}]}


def test_safety_identifier_becomes_metadata_user_id():
    assert translate({"safety_identifier": "hash-1"})["metadata"] == {"user_id": "hash-1"}
    assert translate({"safety_identifier": "hash-1", "user": "u"})["metadata"] == {"user_id": "hash-1"}
    assert translate({"user": "u"})["metadata"] == {"user_id": "u"}


def test_row10_image_types_anthropic_does_not_take_are_a_400_naming_the_part():
    part = {"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}
    assert refused({"messages": _user_parts(part)}) == "messages[0].content[1]"
