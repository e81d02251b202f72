"""An Anthropic Messages stream as OpenAI `chat.completion.chunk` frames, one event at a time."""

from __future__ import annotations

import json
import time
from typing import Any

from proxy.anthropic.response import FINISH_REASONS, chat_id, openai_code, usage_from_anthropic
from proxy.sse import DONE, encode_data


class StreamTranslator:
    """Anthropic stream events in, OpenAI `chat.completion.chunk` SSE frames out (ending in [DONE])."""

    def __init__(self, include_usage: bool, reasoning: bool = True) -> None:
        self.include_usage = include_usage
        self.reasoning = reasoning  # thinking deltas as `reasoning_content`
        self.id = chat_id(None)
        self.model = ""
        self.created = int(time.time())
        self.usage: dict[str, Any] = {}
        self.tool_index: dict[int, int] = {}  # anthropic block index -> openai tool call index
        self.tool_has_args: dict[int, bool] = {}
        self.finish_reason: str | None = None
        self.done = False

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
        }
        if self.include_usage:
            chunk["usage"] = None
        return encode_data(chunk)

    def feed(self, event: str, data: str) -> list[bytes]:
        """One SSE event from Anthropic; returns the frames to send (possibly none)."""
        if self.done:
            return []
        try:
            payload = json.loads(data) if data else {}
            if not isinstance(payload, dict):
                raise TypeError("not an event object")
            return self._feed(event, payload)
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
            # A field of the wrong type (an index "x", a message that is a number, a list as stop_reason):
            # the client gets an error event and [DONE], never a crash in the middle of its stream.
            return self.fail("upstream sent an unreadable stream event", "upstream_error")

    def _feed(self, event: str, payload: dict[str, Any]) -> list[bytes]:
        kind = payload.get("type", event)
        if kind == "message_start":
            msg = payload.get("message") or {}
            self.id = chat_id(msg.get("id"))
            self.model = msg.get("model", "")
            self.usage.update({k: v for k, v in (msg.get("usage") or {}).items() if isinstance(v, (int, dict))})
            return [self._chunk({"role": "assistant", "content": ""})]
        if kind == "content_block_start":
            block = payload.get("content_block") or {}
            index = int(payload.get("index", 0))
            if block.get("type") == "tool_use":
                n = self.tool_index[index] = len(self.tool_index)
                self.tool_has_args[index] = False
                call = {
                    "index": n,
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": ""},
                }
                return [self._chunk({"tool_calls": [call]})]
            if block.get("type") == "text" and block.get("text"):
                return [self._chunk({"content": block["text"]})]
            if block.get("type") == "thinking" and block.get("thinking") and self.reasoning:
                return [self._chunk({"reasoning_content": block["thinking"]})]
            return []
        if kind == "content_block_delta":
            delta = payload.get("delta") or {}
            index = int(payload.get("index", 0))
            if delta.get("type") == "text_delta" and delta.get("text"):
                return [self._chunk({"content": delta["text"]})]
            if delta.get("type") == "thinking_delta" and delta.get("thinking") and self.reasoning:
                return [self._chunk({"reasoning_content": delta["thinking"]})]
            if delta.get("type") == "input_json_delta" and index in self.tool_index and delta.get("partial_json"):
                self.tool_has_args[index] = True
                call = {"index": self.tool_index[index], "function": {"arguments": delta["partial_json"]}}
                return [self._chunk({"tool_calls": [call]})]
            return []
        if kind == "content_block_stop":
            index = int(payload.get("index", 0))
            if index in self.tool_index and not self.tool_has_args[index]:
                self.tool_has_args[index] = True  # a tool without arguments still gets valid JSON
                return [
                    self._chunk({"tool_calls": [{"index": self.tool_index[index], "function": {"arguments": "{}"}}]})
                ]
            return []
        if kind == "message_delta":
            self.usage.update({k: v for k, v in (payload.get("usage") or {}).items() if isinstance(v, (int, dict))})
            reason = (payload.get("delta") or {}).get("stop_reason")
            if reason and self.finish_reason is None:
                self.finish_reason = FINISH_REASONS.get(reason, "stop")
                return [self._chunk({}, self.finish_reason)]
            return []
        if kind == "message_stop":
            return self.finish()
        if kind == "error":
            err = payload.get("error") or {}
            message, type_ = str(err.get("message") or "upstream error"), str(err.get("type") or "upstream_error")
            return self.fail(message, type_, openai_code(0, type_, message))
        if kind == "ping":
            return [b": ping\n\n"]
        return []

    def finish(self) -> list[bytes]:
        """The closing frames: finish reason if none was sent, the usage chunk if asked, then [DONE]."""
        if self.done:
            return []
        self.done = True
        out: list[bytes] = []
        if self.finish_reason is None:
            self.finish_reason = "tool_calls" if self.tool_index else "stop"
            out.append(self._chunk({}, self.finish_reason))
        if self.include_usage:
            chunk = {
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage_from_anthropic(self.usage),
            }
            out.append(encode_data(chunk))
        out.append(DONE)
        return out

    def fail(self, message: str, type_: str, code: str | None = None) -> list[bytes]:
        """An in-stream error as OpenAI sends it, then [DONE]."""
        if self.done:
            return []
        self.done = True
        return [encode_data({"error": {"message": message, "type": type_, "param": None, "code": code}}), DONE]
