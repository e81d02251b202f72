"""Draining end to end on the devnet with the real forwarder: a model marked `absent` loses its bid at once,
keeps being served while a buyer's session on it is live, and leaves the forwarder (and the chain) only in the
apply after the session's end."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from apply_helpers import DevnetCase, example_in
from fwd_helpers import ADMIN_TOKEN
from fwd_stubs import UPSTREAM_KEY, serve_upstream
from openai import AsyncOpenAI, BadRequestError, NotFoundError
from test_apply_forwarder import forwarder

from reconciler import devnet, sessions_devnet
from reconciler.anvil import free_port

BUYER = 5


async def test_absent_model_drains_until_its_session_ends(tmp_path: Path) -> None:
    d, work = tmp_path / "devnet", tmp_path / "work"
    work.mkdir()
    info, _ = await asyncio.to_thread(devnet.up, d, free_port())
    try:
        async with serve_upstream("openai") as up:
            port, admin = free_port(), free_port()
            yaml = example_in(work)
            text = yaml.read_text().replace("baseUrl: http://127.0.0.1:8099/v1", f"baseUrl: {up.url}/v1")
            text = text.replace(
                "proxy:\n",
                f"proxy:\n  adminUrl: http://127.0.0.1:{admin}\n  adminToken: env:MORPHEUS_PROXY_ADMIN_TOKEN\n",
            )
            yaml.write_text(text)
            case = DevnetCase(info=info, dir=d, work=work, yaml=yaml, state=tmp_path / "state")
            env = {"DEMO_UPSTREAM_KEY": UPSTREAM_KEY, "MORPHEUS_PROXY_ADMIN_TOKEN": ADMIN_TOKEN}
            config = work / "forwarder-models.json"
            config.write_text('{"models": []}\n')

            async def reconcile(*args: str) -> tuple[int, str]:
                r = await asyncio.to_thread(case.reconcile, *args, extra_env=env)
                return r.returncode, r.stdout + r.stderr

            apply = ("apply", str(yaml), "--auto-approve", "--state-dir", str(case.state))
            async with forwarder(config, port, admin):
                code, out = await reconcile(*apply)
                assert code == 0, out
                market, w3 = case.market(), case.w3
                (bid_id, *_), _ = market.functions.getProviderActiveBids(case.provider, 0, 10).call()
                bid = market.functions.getBid(bid_id).call()
                chat_model = "0x" + bytes(bid[1]).hex()
                chat_name = next(
                    m["modelName"] for m in json.loads(config.read_text())["models"] if m["modelId"] == chat_model
                )
                buyer = info["accounts"][BUYER]["address"]
                stake = sessions_devnet.stake_for_duration(w3, info["diamond"], bid_id, 600)
                session = sessions_devnet.open_session(w3, info["diamond"], buyer, case.key(1), bid_id, stake)

                # the operator removes the model while a buyer's session on it is live
                model_name = "demo-chat" if chat_name == "llama-3.3-70b" else "demo-embeddings"
                yaml.write_text(
                    yaml.read_text().replace(f"  - name: {model_name}\n", f"  - name: {model_name}\n    absent: true\n")
                )
                code, out = await reconcile(*apply)
                assert code == 0, out
                assert "draining" in out
                assert not market.functions.isBidActive(bid_id).call()  # the bid is deleted at once
                assert any(m["modelId"] == chat_model for m in json.loads(config.read_text())["models"])
                client = AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused")
                if chat_name == "llama-3.3-70b":
                    reply = await client.chat.completions.create(
                        model=chat_model, messages=[{"role": "user", "content": "still there?"}]
                    )
                    assert reply.choices[0].message.content  # served while draining
                assert market.functions.getIsModelActive(bytes.fromhex(chat_model[2:])).call()

                # after the session's end the next apply removes it from the forwarder and deregisters it
                now = sessions_devnet.latest_timestamp(w3)
                w3.provider.make_request("evm_increaseTime", [session.ends_at - now + 1])  # type: ignore[arg-type]
                w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
                code, out = await reconcile(*apply)
                assert code == 0, out
                assert all(m["modelId"] != chat_model for m in json.loads(config.read_text())["models"])
                assert not market.functions.getIsModelActive(bytes.fromhex(chat_model[2:])).call()
                try:
                    await client.chat.completions.create(model=chat_model, messages=[{"role": "user", "content": "x"}])
                    raise AssertionError("a removed model must not be served")
                except (BadRequestError, NotFoundError):
                    pass
                code, out = await reconcile("plan", str(yaml), "--detailed-exitcode")
                assert code == 0, out
    finally:
        await asyncio.to_thread(devnet.down, d)
