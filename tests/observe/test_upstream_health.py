"""Each model's upstream health between two readings of the forwarder's /metrics (pure): a refused key is down, a
quota or a timeout degraded, a model with no new requests keeps what it was, the first reading is unknown."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai

from proxy.server import running
from reconciler.observe.forwarder_admin import ForwarderAdmin
from reconciler.observe.forwarder_health import probe
from reconciler.observe.upstream_health import judge_upstreams, reading
from tests.support.fwd_helpers import ADMIN_TOKEN, admin_url, base_url, model_id, one_good_one_refusing

ERRORS, REQUESTS = "morpheus_proxy_upstream_errors_total", "morpheus_proxy_requests_total"


def _samples(errors: dict[tuple[str, str], float], ok: dict[str, float]) -> list[Any]:
    from reconciler.observe.prometheus import MetricSample

    out = [MetricSample(ERRORS, {"model": m, "kind": kind, "reason": kind}, v) for (m, kind), v in errors.items()]
    out += [MetricSample(REQUESTS, {"model": m, "kind": "chat", "status": "200"}, v) for m, v in ok.items()]
    return out


def test_the_first_reading_is_unknown_then_each_cause_gives_its_state() -> None:
    from reconciler.observe.upstream_health import judge_upstreams, reading

    first = reading(_samples({}, {"a": 5, "b": 5, "c": 5, "d": 5}))
    seen = judge_upstreams(None, first, {})
    assert {m: h.state for m, h in seen.items()} == dict.fromkeys("abcd", "unknown")
    errors = {("a", "http_401"): 3, ("b", "http_429"): 2, ("c", "timeout_ttfb"): 1}
    second = reading(_samples(errors, {"a": 5, "b": 9, "c": 9, "d": 9}))
    seen = judge_upstreams(first, second, seen)
    assert {m: h.state for m, h in seen.items()} == {"a": "down", "b": "degraded", "c": "degraded", "d": "up"}
    assert (seen["a"].cause, seen["b"].cause, seen["c"].cause) == ("key-refused", "quota", "timeout")
    assert "401" in seen["a"].why and "3" in seen["a"].why
    third = reading(_samples(errors, {"a": 5, "b": 12, "c": 12, "d": 9}))  # a and d: no new requests; b, c: no errors
    after = judge_upstreams(second, third, seen)
    assert {m: h.state for m, h in after.items()} == {"a": "down", "b": "up", "c": "up", "d": "up"}


def test_unreachable_is_down_only_without_answers_and_a_restart_counts_from_zero() -> None:
    from reconciler.observe.upstream_health import judge_upstreams, reading

    before = reading(_samples({("a", "connect"): 10}, {"a": 10, "b": 10}))
    now = reading(_samples({("a", "connect"): 14}, {"a": 10, "b": 12}))
    assert judge_upstreams(before, now, {})["a"].state == "down"
    some_answered = reading(_samples({("a", "connect"): 14}, {"a": 12, "b": 12}))
    assert judge_upstreams(now, reading(_samples({("a", "connect"): 15}, {"a": 13})), {})["a"].state == "degraded"
    assert judge_upstreams(now, some_answered, {})["a"].state == "up"
    restarted = reading(_samples({("a", "http_403"): 1}, {"b": 1}))  # counters below the last reading
    assert judge_upstreams(now, restarted, {})["a"].state == "down"
    assert "b" not in judge_upstreams(now, reading(_samples({}, {"a": 20})), {})  # gone from the forwarder


async def test_a_real_forwarder_whose_upstream_refuses_the_key_is_down_for_that_model(tmp_path: Path) -> None:
    """The real forwarder in process, two loopback upstreams (one answering 401), the openai SDK as the client, and
    the forwarder's /metrics read through its admin API as the watcher reads it."""
    async with one_good_one_refusing(tmp_path) as (state, _, _):
        async with running(state) as r:
            admin = ForwarderAdmin(admin_url(r), ADMIN_TOKEN)
            before = reading((await asyncio.to_thread(probe, admin)).samples)
            client = openai.AsyncOpenAI(base_url=base_url(r), api_key="unused", max_retries=0)
            for model in ("good", "refused"):
                try:
                    await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
                except openai.AuthenticationError:
                    assert model == "refused"
            await client.close()
            now = reading((await asyncio.to_thread(probe, admin)).samples)
    seen = judge_upstreams(before, now, judge_upstreams(None, before, {}))  # by model id (the forwarder labels it)
    good_, refused_ = seen[model_id("good")], seen[model_id("refused")]
    assert (good_.state, refused_.state, refused_.cause) == ("up", "down", "key-refused")
    assert (refused_.model, refused_.model_id) == ("refused", model_id("refused"))
