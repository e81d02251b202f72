"""`perToken.tokensPerSecond: measured` (issue 31): a bid priced at the forwarder's measured tokens per second,
its fallback until there is one, the rate read from a real forwarder's /metrics."""

from __future__ import annotations

import asyncio
from fractions import Fraction as F
from pathlib import Path

import openai
import pytest

from proxy.server import running
from proxy.settings import Settings
from proxy.state import ProxyState
from reconciler.desired.diagnostics import ValidationFailed
from reconciler.plan.model import ActionKind
from reconciler.plan.planner import plan
from tests.support.fwd_helpers import ADMIN_TOKEN, write_config
from tests.support.fwd_stubs import serve_upstream
from tests.support.planfactory import BASE_YAML, desired_from, observed

MEASURED = (
    "      costModel:\n        morUsd: '0.01'\n        perToken:\n          tokensPerSecond: measured\n"
    "          fallbackTokensPerSecond: 40\n"
    "          inputUsdPerToken: '0.000002'\n          outputUsdPerToken: '0.000008'\n"
)


def _measured_yaml(extra: str = "") -> str:
    return BASE_YAML.replace('      pricePerSecond: "0.01 MOR"\n', MEASURED + extra, 1)


def test_measured_rate_is_kept_to_two_significant_digits_once_600_seconds_were_served() -> None:
    from reconciler.market.margin import Usage, measured_rate

    assert measured_rate(Usage(prompt=20_000, completion=27_360, seconds=F(1000))) == 47  # 47.36 tokens/s
    assert measured_rate(Usage(prompt=1_000, completion=500, seconds=F(600))) == F("2.5")
    assert measured_rate(Usage(completion=1_234_000, seconds=F(1000))) == 1200
    assert measured_rate(Usage(completion=999, seconds=F(599))) is None  # not served long enough
    assert measured_rate(Usage(seconds=F(700))) is None  # served, but no token reported


def test_plan_prices_a_measured_bid_at_the_forwarders_rate_else_its_fallback() -> None:
    d = desired_from(_measured_yaml())
    llama = next(m for m in d.models if m.name == "llama")
    # fallback: 40 tokens/s x (0.3 x 0.000002 + 0.7 x 0.000008) = 0.000248 USD/s, / 0.01 USD per MOR
    p = plan(d, observed())
    post = next(a for a in p.actions if a.kind is ActionKind.BID_POST and llama.model_id in a.id)
    assert post.after is not None and post.after["pricePerSecond"] == 24_800_000_000_000_000
    (warning,) = [w for w in p.warnings if "tokensPerSecond is measured" in w]
    assert "model 'llama'" in warning and "fallbackTokensPerSecond 40" in warning
    # measured 50 tokens/s: 0.00031 USD/s, 0.031 MOR/s
    p = plan(d, observed(measured_tps={llama.model_id.lower(): F(50)}))
    post = next(a for a in p.actions if a.kind is ActionKind.BID_POST and llama.model_id in a.id)
    assert post.after is not None and post.after["pricePerSecond"] == 31_000_000_000_000_000
    assert not any("tokensPerSecond is measured" in w for w in p.warnings)


def test_measured_needs_a_fallback_and_a_fallback_needs_measured() -> None:
    no_fallback = _measured_yaml().replace("          fallbackTokensPerSecond: 40\n", "")
    with pytest.raises(ValidationFailed) as refused:
        desired_from(no_fallback)
    assert any("tokensPerSecond: measured needs fallbackTokensPerSecond" in str(d) for d in refused.value.diagnostics)
    declared = _measured_yaml().replace("tokensPerSecond: measured", "tokensPerSecond: 40")
    with pytest.raises(ValidationFailed) as refused:
        desired_from(declared)
    assert any(
        "fallbackTokensPerSecond is only for tokensPerSecond: measured" in str(d) for d in refused.value.diagnostics
    )


async def test_the_rate_is_read_from_the_forwarders_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from reconciler.market import margin
    from reconciler.observe.measured import measured_rates

    async with serve_upstream("openai") as up:
        up.knobs.latency = 0.05
        d0 = desired_from(_measured_yaml())
        llama = next(m for m in d0.models if m.name == "llama")
        config = tmp_path / "forwarder.json"
        entry = {"modelId": llama.model_id, "modelName": "llama", "apiType": "openai"}
        write_config(config, [entry | {"apiUrl": up.url + "/v1/chat/completions", "apiKey": "k-up"}])
        state = ProxyState(config, Settings(), client_token=None, admin_token=ADMIN_TOKEN)
        state.load_initial()
        async with running(state, watch=False) as r:
            admin = f"  adminUrl: http://127.0.0.1:{r.admin_port}\n  adminToken: env:ADMIN\n"
            d = desired_from(_measured_yaml().replace("proxy:\n", "proxy:\n" + admin))
            client = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{r.data_port}/v1", api_key="x", max_retries=0)
            for _ in range(2):
                await client.chat.completions.create(model="llama", messages=[{"role": "user", "content": "hi"}])
            env = {"ADMIN": ADMIN_TOKEN}
            assert await asyncio.to_thread(measured_rates, d, env) == (
                {},
                "",
            )  # served for less than 600 s: no rate yet
            monkeypatch.setattr(margin, "MIN_MEASURED_SECONDS", 0)
            rates, note = await asyncio.to_thread(measured_rates, d, env)
            assert note == "" and set(rates) == {llama.model_id.lower()} and rates[llama.model_id.lower()] > 0
    rates, note = measured_rates(d0, env)
    assert rates == {} and "adminUrl" in note
