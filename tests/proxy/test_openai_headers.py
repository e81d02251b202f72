"""Issue 18: the OpenAI pass-through hands on the upstream's rate-limit and request-id headers (and no others)."""

from __future__ import annotations

import openai
import pytest

from tests.support.fwd_helpers import base_url, entry
from tests.support.fwd_stubs import OPENAI_HEADERS

HI = [{"role": "user", "content": "hi"}]
PASSED = {k: v for k, v in OPENAI_HEADERS.items() if k.startswith(("x-ratelimit-", "x-request-id"))}


def assert_passed(headers: object) -> None:
    got = {k: headers.get(k) for k in OPENAI_HEADERS}  # type: ignore[attr-defined]
    assert got == {**dict.fromkeys(OPENAI_HEADERS), **PASSED}  # openai-organization stays behind


async def test_rate_limit_and_request_id_headers_reach_the_client(openai_up, make_proxy):
    async with make_proxy([entry("gpt-x", openai_up)], failure_budget=0) as r:
        async with openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0) as client:
            raw = await client.chat.completions.with_raw_response.create(model="gpt-x", messages=HI)
            assert_passed(raw.headers)
            assert raw.request_id == "req_stub_42"
            async with client.chat.completions.with_streaming_response.create(
                model="gpt-x", messages=HI, stream=True
            ) as streamed:
                assert_passed(streamed.headers)
                assert [c async for c in await streamed.parse()]
            openai_up.knobs.status = 429
            with pytest.raises(openai.RateLimitError) as e:
                await client.chat.completions.create(model="gpt-x", messages=HI)
            assert_passed(e.value.response.headers)
            assert e.value.response.headers["retry-after"] == "1"
