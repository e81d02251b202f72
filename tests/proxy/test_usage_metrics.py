"""What the forwarder counts for margins (issue 31): tokens by type, cached tokens included, and seconds served
per model, on the stream and buffered paths of both apiTypes, read back from its /metrics."""

from __future__ import annotations

import aiohttp
import openai

from reconciler.observe.prometheus import parse
from tests.support.fwd_helpers import admin_url, base_url, entry, model_id

MESSAGES = [{"role": "user", "content": "hi"}]


async def _metrics(r) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with aiohttp.ClientSession() as s, s.get(admin_url(r) + "/metrics") as resp:
        text = await resp.text()
    return {(m.name, tuple(sorted(m.labels.items()))): m.value for m in parse(text)}


def _tokens(metrics, name: str, kind: str) -> float | None:
    key = ("morpheus_proxy_tokens_total", (("model", name), ("model_id", model_id(name)), ("type", kind)))
    return metrics.get(key)


def _served(metrics, name: str) -> float | None:
    return metrics.get(("morpheus_proxy_served_seconds_total", (("model", name), ("model_id", model_id(name)))))


async def test_openai_stream_and_buffered_usage_with_cached_tokens_and_served_seconds(openai_up, make_proxy):
    openai_up.knobs.cached = 2
    openai_up.knobs.latency = 0.2  # the stub waits this long before answering: each request is served longer
    async with make_proxy([entry("gpt-x", openai_up)]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        stream = await client.chat.completions.create(
            model="gpt-x", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        usage = [chunk.usage async for chunk in stream if chunk.usage is not None]
        assert usage and usage[0].prompt_tokens_details and usage[0].prompt_tokens_details.cached_tokens == 2
        answer = await client.chat.completions.create(model="gpt-x", messages=MESSAGES)
        assert answer.usage is not None and answer.usage.prompt_tokens == 3
        metrics = await _metrics(r)
    assert _tokens(metrics, "gpt-x", "prompt") == 6
    assert _tokens(metrics, "gpt-x", "completion") == 8
    assert _tokens(metrics, "gpt-x", "cached") == 4
    assert _tokens(metrics, "gpt-x", "cache_write") is None  # OpenAI reports no cache writes
    served = _served(metrics, "gpt-x")
    assert served is not None and served >= 0.4  # two requests, each open upstream at least the stub's wait


async def test_anthropic_stream_and_buffered_usage_counts_cache_reads_and_writes(anthropic_up, make_proxy):
    anthropic_up.knobs.cache_write = 5  # the stub also reports 2 cache reads and 11 plain input tokens
    async with make_proxy([entry("claude-x", anthropic_up, api_type="claudeai")]) as r:
        client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
        stream = await client.chat.completions.create(model="claude-x", messages=MESSAGES, stream=True)
        assert [chunk async for chunk in stream]
        await client.chat.completions.create(model="claude-x", messages=MESSAGES)
        metrics = await _metrics(r)
    assert _tokens(metrics, "claude-x", "prompt") == 2 * (11 + 2 + 5)  # reads and writes are prompt tokens too
    assert _tokens(metrics, "claude-x", "cached") == 4
    assert _tokens(metrics, "claude-x", "cache_write") == 10
    assert _tokens(metrics, "claude-x", "completion") == 8
    served = _served(metrics, "claude-x")
    assert served is not None and served > 0
