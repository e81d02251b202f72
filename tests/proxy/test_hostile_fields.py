"""Hostile clients: OpenAI fields of the wrong JSON type, against a real forwarder and loopback upstreams.

A wrong type is the client's mistake: a 400 in the OpenAI error shape naming the field, no traceback in the
log, nothing sent upstream, and nothing charged to the upstream's failure budget (which would pause the
model for every other buyer).
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest

from tests.support.fwd_helpers import base_url, entry, post
from tests.support.fwd_stubs import Upstream

BAD_CLAUDE_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"stream": "yes"}, "stream"),
    ({"stream": 1}, "stream"),
    ({"stream": True, "stream_options": "x"}, "stream_options"),
    ({"stream": True, "stream_options": [1]}, "stream_options"),
    ({"stop": 5}, "stop"),
    ({"stop": [1, None]}, "stop"),
    ({"reasoning_effort": [1]}, "reasoning_effort"),
    ({"reasoning_effort": {"a": 1}}, "reasoning_effort"),
    (
        {
            "messages": [
                {"role": "assistant", "content": "x", "tool_calls": 5},
                {"role": "user", "content": "y"},
            ]
        },
        "messages[0].tool_calls",
    ),
]


@pytest.mark.parametrize(("fields", "param"), BAD_CLAUDE_FIELDS)
async def test_claude_fields_of_the_wrong_type_are_a_400_naming_the_field(
    anthropic_up: Upstream, make_proxy, caplog, fields: dict[str, Any], param: str
):
    """Each of these was a 500 with a traceback (or, for a string `stream`, a 502 charged to the budget)."""
    caplog.set_level(logging.WARNING)
    async with make_proxy([entry("claude-x", anthropic_up, api_type="claudeai")]) as r, aiohttp.ClientSession() as s:
        body = {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}], **fields}
        status, _, data = await post(s, r, body)
        assert status == 400, data
        assert data["error"]["param"] == param
        assert data["error"]["type"] == "invalid_request_error"
        assert anthropic_up.requests == []
        assert not [rec for rec in caplog.records if rec.name == "morpheus_proxy"], caplog.text
        assert r.state.budget.allow(r.state.config.routes[0].budget_key)  # type: ignore[union-attr]
        # and the forwarder still serves
        status, _, data = await post(s, r, {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]})
        assert status == 200, data


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
@pytest.mark.parametrize("api_type", ["openai", "claudeai"])
async def test_nan_and_infinity_are_not_json(
    openai_up: Upstream, anthropic_up: Upstream, make_proxy, constant: bytes, api_type: str
):
    """Python's json.loads takes these, so they went upstream as a body that is not JSON (claudeai: a NaN
    temperature, which min/max clamping keeps as NaN)."""
    up = anthropic_up if api_type == "claudeai" else openai_up
    async with make_proxy([entry("m", up, api_type=api_type)]) as r, aiohttp.ClientSession() as s:
        data = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": ' + constant + b"}"
        async with s.post(base_url(r) + "/chat/completions", data=data) as resp:
            assert resp.status == 400
            assert (await resp.json())["error"]["code"] == "invalid_json"
        assert up.requests == []


@pytest.mark.parametrize("value", ["\u00b2", "0"])
async def test_a_max_tokens_parameter_that_is_no_positive_number_falls_back_to_the_default(
    anthropic_up: Upstream, make_proxy, caplog, value: str
):
    """An operator's parameters.max_tokens of "²" passed isdigit() and broke int(): every request to the
    model was a 500; "0" made every request a 400 blaming the client's max_tokens."""
    caplog.set_level(logging.WARNING)
    models = [entry("claude-x", anthropic_up, api_type="claudeai", parameters={"max_tokens": value})]
    async with make_proxy(models, default_max_tokens=777) as r, aiohttp.ClientSession() as s:
        status, _, data = await post(s, r, {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}]})
        assert status == 200, data
        assert anthropic_up.requests[-1]["body"]["max_tokens"] == 777
    assert not [rec for rec in caplog.records if rec.name == "morpheus_proxy"], caplog.text
