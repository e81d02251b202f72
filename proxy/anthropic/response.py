"""An Anthropic answer as OpenAI's: a Message as a chat.completion, usage, and errors with OpenAI's codes.

Thinking becomes `reasoning_content`; usage counts cache reads and writes in prompt_tokens, as OpenAI's does.
"""

from __future__ import annotations

import json
import time
from typing import Any

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Anthropic status -> the status an OpenAI client expects.
ERROR_STATUS = {529: 503}


def usage_from_anthropic(usage: dict[str, Any] | None) -> dict[str, Any]:
    """OpenAI usage: prompt_tokens counts cache reads and writes, as OpenAI's does; both also in the details."""
    usage = usage if isinstance(usage, dict) else {}

    def count(name: str) -> int:  # an upstream's count that is not a number counts as 0
        n = usage.get(name)
        return n if isinstance(n, int) and not isinstance(n, bool) else 0

    cached = count("cache_read_input_tokens")
    written = count("cache_creation_input_tokens")
    prompt = count("input_tokens") + written + cached
    completion = count("output_tokens")
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "cache_write_tokens": written},
    }
    details = usage.get("output_tokens_details")
    if isinstance(details, dict) and isinstance(details.get("thinking_tokens"), int):
        out["completion_tokens_details"] = {"reasoning_tokens": details["thinking_tokens"]}
    return out


def chat_id(msg_id: Any) -> str:
    return f"chatcmpl-{msg_id}" if msg_id else f"chatcmpl-{int(time.time() * 1000)}"


def to_openai_response(msg: dict[str, Any], reasoning: bool = True) -> dict[str, Any]:
    """An Anthropic Message as an OpenAI chat.completion; thinking text as `reasoning_content` if `reasoning`
    (the field OpenAI-compatible clients read; redacted thinking has no text to show)."""
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in msg.get("content") or []:
        if block.get("type") == "text":
            texts.append(block.get("text", ""))
        elif block.get("type") == "thinking" and reasoning:
            thinking.append(block.get("thinking") or "")
        elif block.get("type") == "tool_use":
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {
                        "name": block.get("name"),
                        "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False),
                    },
                }
            )
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if any(thinking):
        message["reasoning_content"] = "".join(thinking)
    if calls:
        message["tool_calls"] = calls
    return {
        "id": chat_id(msg.get("id")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": msg.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": FINISH_REASONS.get(msg.get("stop_reason") or "", "stop"),
                "logprobs": None,
            }
        ],
        "usage": usage_from_anthropic(msg.get("usage")),
    }


_CONTEXT_TOO_LONG = ("prompt is too long", "exceed context limit", "context window")


def openai_code(status: int, type_: str, message: str) -> str | None:
    """OpenAI's `code` for an Anthropic error, where OpenAI has one: frameworks branch on it (trim history on
    context_length_exceeded, back off on rate_limit_exceeded). A 413 is too large a request: trimming is the fix."""
    lowered = message.lower()
    if status == 413 or type_ == "request_too_large" or any(w in lowered for w in _CONTEXT_TOO_LONG):
        return "context_length_exceeded"
    if type_ == "billing_error" or "credit balance" in lowered:
        return "insufficient_quota"
    if type_ == "rate_limit_error":
        return "rate_limit_exceeded"
    if type_ == "authentication_error":
        return "invalid_api_key"
    if type_ == "not_found_error" and "model" in lowered:
        return "model_not_found"
    return None


def to_openai_error(status: int, body: bytes) -> tuple[int, dict[str, Any]]:
    """An Anthropic error answer as (status, OpenAI-shaped error body)."""
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        parsed = None
    err = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(err, dict):
        message = str(err.get("message") or "upstream error")
        type_ = str(err.get("type") or "upstream_error")
    else:
        message = body.decode("utf-8", "replace")[:2000] or f"upstream answered {status}"
        type_ = "upstream_error"
    code = openai_code(status, type_, message)
    return ERROR_STATUS.get(status, status), {"error": {"message": message, "type": type_, "param": None, "code": code}}
