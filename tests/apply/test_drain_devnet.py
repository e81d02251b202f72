"""Draining end to end on the devnet with the real forwarder: a model marked `absent` loses its bid at once,
keeps being served while a buyer's session on it is live, and leaves the forwarder (and the chain) only in the
apply after the session's end."""

from __future__ import annotations

import json
from pathlib import Path

from openai import AsyncOpenAI, BadRequestError, NotFoundError

from reconciler.devnet import buyer as sessions_devnet
from tests.support.apply_helpers import served_devnet

BUYER = 5


async def test_absent_model_drains_until_its_session_ends(tmp_path: Path) -> None:
    async with served_devnet(tmp_path) as s:
        case, config, info = s.case, s.config, s.case.info
        yaml = case.yaml
        code, out = await s.apply()
        assert code == 0, out
        market, w3 = case.market(), case.w3
        (bid_id, *_), _ = market.functions.getProviderActiveBids(case.provider, 0, 10).call()
        bid = market.functions.getBid(bid_id).call()
        model = "0x" + bytes(bid[1]).hex()
        name = next(m["modelName"] for m in json.loads(config.read_text())["models"] if m["modelId"] == model)
        buyer = info["accounts"][BUYER]["address"]
        stake = sessions_devnet.stake_for_duration(w3, info["diamond"], bid_id, 600)
        session = sessions_devnet.open_session(w3, info["diamond"], buyer, case.key(1), bid_id, stake)

        # the operator removes the model while a buyer's session on it is live
        declared = "demo-chat" if name == "llama-3.3-70b" else "demo-embeddings"
        yaml.write_text(
            yaml.read_text().replace(f"  - name: {declared}\n", f"  - name: {declared}\n    absent: true\n")
        )
        code, out = await s.apply()
        assert code == 0, out
        assert "draining" in out
        assert not market.functions.isBidActive(bid_id).call()  # the bid is deleted at once
        assert any(m["modelId"] == model for m in json.loads(config.read_text())["models"])
        client = AsyncOpenAI(base_url=s.base_url, api_key="unused")
        if name == "llama-3.3-70b":
            reply = await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "hi?"}])
            assert reply.choices[0].message.content  # served while draining
        assert market.functions.getIsModelActive(bytes.fromhex(model[2:])).call()  # deregistered only after

        # after the session's end the next apply removes it from the forwarder and deregisters it
        now = sessions_devnet.latest_timestamp(w3)
        w3.provider.make_request("evm_increaseTime", [session.ends_at - now + 1])  # type: ignore[arg-type]
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
        code, out = await s.apply()
        assert code == 0, out
        assert all(m["modelId"] != model for m in json.loads(config.read_text())["models"])
        assert not market.functions.getIsModelActive(bytes.fromhex(model[2:])).call()
        try:
            await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])
            raise AssertionError("a removed model must not be served")
        except (BadRequestError, NotFoundError):
            pass
        code, out = await s.reconcile("plan", str(yaml), "--detailed-exitcode")
        assert code == 0, out
