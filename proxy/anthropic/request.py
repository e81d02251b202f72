"""An OpenAI chat-completions request as an Anthropic Messages request, as pure functions.

Covers what chat clients and agents send: system/developer messages, text, image and PDF parts, tools (strict)
and tool calls (even cut-off ones in history), tool results, stop sequences, temperature, response_format,
reasoning_effort, prompt caching and max_tokens (a configured default, never a silent 1024).
docs/forwarder.md has the table of every OpenAI request field: mapped, dropped (why) or refused.
"""

from __future__ import annotations

import json
from typing import Any

from proxy.anthropic.options import DEFAULT_OPTIONS, ClaudeOptions
from proxy.exceptions import TranslationError

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})  # what Anthropic takes
PDF_BASE64 = "JVBERi"  # "%PDF-" in base64: a bare file_data that is a PDF

# OpenAI reasoning_effort -> Anthropic output_config.effort (the anthropic SDK's OutputConfigParam levels);
# "none" is left out (the model's default), "minimal" becomes the lowest level Anthropic has.
# The user turn put before a conversation that would start with the assistant (its first user messages were
# blank, and blank text is left out): Anthropic refuses an assistant first turn, and empty text too.
OPENING_TURN = "."

EFFORT = {"minimal": "low", "low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "max"}


def _text_of(content: Any, where: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for p in content:
            if isinstance(p, dict) and p.get("type") in ("text", "refusal"):  # an assistant's refusal is its text
                parts.append(str(p.get(p["type"], "")))
            else:
                raise TranslationError(f"{where}: only text parts are allowed here", where)
        return "\n".join(parts)
    raise TranslationError(f"{where}: content must be a string or a list of parts", where)


def _image_block(part: dict[str, Any], where: str) -> dict[str, Any]:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str) or not url:
        raise TranslationError(f"{where}.image_url.url is required", where)
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        media_type = header[5:].split(";")[0].strip().lower()
        media_type = "image/jpeg" if media_type == "image/jpg" else media_type  # a common spelling Anthropic refuses
        if ";base64" not in header or not media_type:
            raise TranslationError(f"{where}: image data URLs must be base64 with a media type", where)
        if media_type not in IMAGE_TYPES:
            raise TranslationError(f"{where}: image type {media_type} is not supported for this model", where)
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _document_block(part: dict[str, Any], where: str) -> dict[str, Any]:
    """A `file` part holding a PDF (a base64 data URL, or bare base64 named *.pdf) as a document block."""
    spec = part.get("file")
    data = spec.get("file_data") if isinstance(spec, dict) else None
    if not isinstance(data, str) or not data:
        raise TranslationError(f"{where}: only files sent inline as file_data are supported for this model", where)
    name = spec.get("filename") if isinstance(spec, dict) else None
    if data.startswith("data:"):
        header, _, data = data.partition(",")
        media_type = header[5:].split(";")[0].strip().lower() if ";base64" in header else ""
    else:
        pdf = data.startswith(PDF_BASE64) or (isinstance(name, str) and name.lower().endswith(".pdf"))
        media_type = "application/pdf" if pdf else ""
    if media_type != "application/pdf":
        raise TranslationError(f"{where}: only PDF files (base64) are supported for this model", where)
    block: dict[str, Any] = {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if isinstance(name, str) and name:
        block["title"] = name
    return block


def _user_blocks(content: Any, where: str) -> list[dict[str, Any]]:
    """Text, image and document blocks; blank text is left out (Anthropic refuses empty and whitespace-only text)."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    if not isinstance(content, list):
        raise TranslationError(f"{where}: content must be a string or a list of parts", where)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(content):
        pw = f"{where}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            text = str(part.get("text", ""))
            if text.strip():
                blocks.append({"type": "text", "text": text})
        elif kind == "image_url":
            blocks.append(_image_block(part, pw))
        elif kind == "file":
            blocks.append(_document_block(part, pw))
        else:
            raise TranslationError(f"{pw}: content part type {kind!r} is not supported for this model", pw)
    return blocks


def _tool_arguments(raw: Any) -> dict[str, Any] | None:
    """A tool call's arguments as an object, or None when they are not a JSON object."""
    if isinstance(raw, dict):
        return raw
    try:
        args = json.loads(raw or "{}")
    except (ValueError, TypeError, RecursionError):  # RecursionError: nested past the recursion limit
        return None
    return args if isinstance(args, dict) else None


def _assistant_blocks(msg: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """Text, then tool_use blocks. History is never refused: a call whose arguments are not a JSON object (a
    model cut off by `length`) goes as `{}`, its raw text in a text block before the calls."""
    blocks: list[dict[str, Any]] = []
    uses: list[dict[str, Any]] = []
    text = _text_of(msg.get("content"), f"{where}.content")
    if not text.strip() and isinstance(msg.get("refusal"), str):
        text = msg["refusal"]
    if text.strip():
        blocks.append({"type": "text", "text": text})
    calls = msg.get("tool_calls") or []
    if not isinstance(calls, list):
        raise TranslationError(f"{where}.tool_calls must be a list", f"{where}.tool_calls")
    for k, call in enumerate(calls):
        cw = f"{where}.tool_calls[{k}]"
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise TranslationError(f"{cw}.function.name is required", cw)
        call_id = str(call.get("id") or f"toolu_{k}")
        args = _tool_arguments(fn.get("arguments"))
        if args is None:
            raw = fn.get("arguments")
            raw_text = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
            blocks.append(
                {"type": "text", "text": f"[tool call {call_id}: arguments were not a JSON object: {raw_text}]"}
            )
            args = {}
        uses.append({"type": "tool_use", "id": call_id, "name": fn["name"], "input": args})
    return blocks + uses


def _tool_result(msg: dict[str, Any], where: str) -> dict[str, Any]:
    if not msg.get("tool_call_id"):
        raise TranslationError(f"{where}.tool_call_id is required", where)
    result = {"type": "tool_result", "tool_use_id": str(msg["tool_call_id"])}
    text = _text_of(msg.get("content"), f"{where}.content")
    if text.strip():  # content is optional; an empty one would be an empty text block
        result["content"] = text
    return result


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise TranslationError("tools must be a list", "tools")
    out = []
    for i, tool in enumerate(tools):
        fn = tool.get("function") if isinstance(tool, dict) and tool.get("type", "function") == "function" else None
        if not isinstance(fn, dict) or not fn.get("name"):
            raise TranslationError(f"tools[{i}]: only function tools with a name are supported", f"tools[{i}]")
        entry: dict[str, Any] = {
            "name": fn["name"],
            "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
        }
        if fn.get("description"):
            entry["description"] = fn["description"]
        if isinstance(fn.get("strict"), bool):  # Anthropic's strict tool use: inputs always match the schema
            entry["strict"] = fn["strict"]
        out.append(entry)
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    result: dict[str, Any] | None
    if choice is None:
        result = {"type": "auto"} if parallel is False else None
    elif choice == "auto":
        result = {"type": "auto"}
    elif choice == "required":
        result = {"type": "any"}
    elif choice == "none":
        return {"type": "none"}
    elif isinstance(choice, dict) and isinstance(choice.get("function"), dict) and choice["function"].get("name"):
        result = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise TranslationError("tool_choice must be auto, required, none or a named function", "tool_choice")
    if result is not None and parallel is False:
        result["disable_parallel_tool_use"] = True
    return result


def _sampling(body: dict[str, Any], options: ClaudeOptions, out: dict[str, Any]) -> None:
    """temperature (clamped: OpenAI allows 0..2, Anthropic 0..1), else top_p when opted in; never both.

    The Messages HTTP API takes both (models that take sampling refuse the pair); the anthropic SDK's 1.0
    only removed them from its method signatures. Models that refuse temperature are retried without it.
    """
    temperature, top_p = body.get("temperature"), body.get("top_p")
    if options.temperature and temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
            raise TranslationError("temperature must be a number", "temperature")
        out["temperature"] = min(max(temperature, 0), 1.0)
    elif options.top_p and top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float)):
            raise TranslationError("top_p must be a number", "top_p")
        out["top_p"] = top_p


def _response_format(fmt: Any) -> dict[str, Any] | None:
    """json_schema -> `output_config.format` (Anthropic's structured outputs, always strict); text -> nothing.

    json_object is refused: Anthropic has no "any JSON" mode, and a bare object schema would not be the same.
    """
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if fmt is None or kind == "text":
        return None
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if not isinstance(schema, dict):
            raise TranslationError("response_format.json_schema.schema is required for this model", "response_format")
        return {"type": "json_schema", "schema": schema}
    if kind == "json_object":
        raise TranslationError(
            "response_format json_object is not supported for this model; use json_schema with a schema",
            "response_format",
        )
    raise TranslationError("response_format must be text or json_schema for this model", "response_format")


def _check_types(body: dict[str, Any]) -> None:
    """The fields whose JSON type the translation relies on: a wrong one is the client's 400, not our 500 (and a
    non-boolean `stream` would make the forwarder and Anthropic disagree about whether the answer streams)."""
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise TranslationError("stream must be a boolean", "stream")
    if body.get("stream_options") is not None and not isinstance(body["stream_options"], dict):
        raise TranslationError("stream_options must be an object", "stream_options")
    stop = body.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise TranslationError("stop must be a string or a list of strings", "stop")


def to_anthropic_request(
    body: dict[str, Any], model_name: str, default_max_tokens: int, options: ClaudeOptions = DEFAULT_OPTIONS
) -> dict[str, Any]:
    """An OpenAI chat-completions body as an Anthropic Messages body (`options`: the model's switches)."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("messages must be a non-empty list", "messages")
    _check_types(body)
    if body.get("n") not in (None, 1):
        raise TranslationError("n > 1 is not supported for this model", "n")
    if body.get("logprobs"):  # Anthropic gives no token probabilities: a clear 400, not a silent null
        raise TranslationError("logprobs are not available for this model", "logprobs")
    if body.get("top_logprobs"):
        raise TranslationError("top_logprobs are not available for this model", "top_logprobs")
    system: list[str] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:  # a message with only blank text: nothing to send
            return
        if turns and turns[-1]["role"] == role:  # Anthropic wants alternating roles: merge neighbours
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for i, msg in enumerate(messages):
        where = f"messages[{i}]"
        role = msg.get("role") if isinstance(msg, dict) else None
        if role in ("system", "developer"):
            text = _text_of(msg.get("content"), f"{where}.content")
            if text.strip():
                system.append(text)
        elif role == "user":
            add("user", _user_blocks(msg.get("content"), f"{where}.content"))
        elif role == "assistant":
            add("assistant", _assistant_blocks(msg, where))
        elif role == "tool":
            add("user", [_tool_result(msg, where)])
        else:
            raise TranslationError(f"{where}.role {role!r} is not supported", f"{where}.role")
    if not turns or (turns[-1]["role"] == "assistant" and messages[-1].get("role") != "assistant"):
        # The last message was blank: sending the rest would end on the assistant's turn, which Anthropic
        # treats as a prefill to continue; say so instead.
        where = f"messages[{len(messages) - 1}].content"
        raise TranslationError(f"{where}: the last message has no non-blank content", where)
    if turns[0]["role"] == "assistant":
        turns.insert(0, {"role": "user", "content": [{"type": "text", "text": OPENING_TURN}]})

    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise TranslationError("max_tokens must be a positive integer", "max_tokens")
    out: dict[str, Any] = {"model": model_name, "max_tokens": max_tokens, "messages": turns}
    if system:
        out["system"] = "\n\n".join(system)
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    _sampling(body, options, out)
    output_config: dict[str, Any] = {}
    if (fmt := _response_format(body.get("response_format"))) is not None:
        output_config["format"] = fmt
    effort = body.get("reasoning_effort")
    if options.reasoning and effort is not None and effort != "none":
        if not isinstance(effort, str) or effort not in EFFORT:
            raise TranslationError(f"reasoning_effort must be one of none, {', '.join(EFFORT)}", "reasoning_effort")
        output_config["effort"] = EFFORT[effort]
    if output_config:
        out["output_config"] = output_config
    if body.get("tools"):
        out["tools"] = _tools(body["tools"])
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
    if choice is not None and (body.get("tools") or choice["type"] == "none"):
        out["tool_choice"] = choice
    user_id = body.get("safety_identifier") or body.get("user")  # OpenAI's successor to `user` first
    if isinstance(user_id, str):
        out["metadata"] = {"user_id": user_id}
    if options.caching:  # automatic caching: Anthropic puts the breakpoint on the last cacheable block
        out["cache_control"] = {"type": "ephemeral"}
    if body.get("stream"):
        out["stream"] = True
    return out
