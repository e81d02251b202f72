"""Issue 17: bad configs never show a value that could hold a key, a bad port is a clean 422 and the file
watcher survives it, and the watcher reacts to its one file only."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.fwd_helpers import ADMIN_TOKEN, admin_url, entry, eventually, write_config
from tests.support.fwd_stubs import Upstream

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CANARY = "sk-CANARY-7f3a9c1e"
EXE = str(Path(sys.executable).with_name("morpheus-proxy"))


def good(up: Upstream, name: str = "gpt-x") -> dict[str, Any]:
    return {**entry(name, up), "apiKey": CANARY}


def bad_configs(up: Upstream) -> dict[str, str]:
    """Every kind of bad models-config, each holding the canary key somewhere (raw file texts)."""
    e = good(up)
    cases: dict[str, Any] = {
        "models_is_an_object": {"models": {"a": e}},
        "missing_model_name": {"models": [{k: v for k, v in e.items() if k != "modelName"}]},
        "api_key_not_a_string": {"models": [{**e, "apiKey": [CANARY]}]},
        "api_key_empty_and_misplaced": {"models": [{**e, "apiKey": "", "apiStack": 7, "modelFamily": CANARY + "\n"}]},
        "api_type_holds_the_key": {"models": [{**e, "apiType": CANARY}]},
        "slots_hold_the_key": {"models": [{**e, "concurrentSlots": CANARY}]},
        "parameter_not_a_string": {"models": [{**e, "parameters": {"x": {"k": CANARY}}}]},
        "model_id_holds_the_key": {"models": [{**e, "modelId": CANARY}]},
        "api_url_holds_the_key": {"models": [{**e, "apiUrl": CANARY}]},
        "api_url_bad_port_and_key_in_query": {
            "models": [{**e, "apiUrl": f"http://h:99999/v1/chat/completions?k={CANARY}"}]
        },
        # accepted before: never sent upstream, and shown whole by /admin/config
        "api_url_credentials_hold_the_key": {
            "models": [{**e, "apiUrl": e["apiUrl"].replace("http://", f"http://user:{CANARY}@")}]
        },
        "api_key_with_a_control_char": {"models": [{**e, "apiKey": CANARY + "\x01"}]},
        "unknown_field_named_like_a_key": {"models": [{**e, CANARY: "x", "modelName": 5}]},
        "root_is_the_key": CANARY,
        "duplicate_entries": {"models": [e, e]},
    }
    out = {name: json.dumps(obj) for name, obj in cases.items()}
    out["invalid_json_near_the_key"] = '{"models": [{"apiKey": "' + CANARY + '" ,, ]}'
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_output(config: Path) -> tuple[int, str]:
    """What `morpheus-proxy` prints when it refuses to start on `config` (stdout and stderr)."""
    proc = await asyncio.create_subprocess_exec(
        EXE, "--config", str(config), "--listen", f"127.0.0.1:{free_port()}", "--admin-listen",
        f"127.0.0.1:{free_port()}", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "MORPHEUS_PROXY_ADMIN_TOKEN": ADMIN_TOKEN},
    )  # fmt: skip
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 120)  # a refusal is quick; a loaded machine is not
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    return proc.returncode or 0, out.decode("utf-8", "replace")


async def test_row4_no_output_ever_shows_a_key_from_a_bad_config(openai_up, make_proxy, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    cases = bad_configs(openai_up)
    outputs: list[str] = []
    async with make_proxy([entry("gpt-x", openai_up)]) as r, aiohttp.ClientSession(headers=AUTH) as s:
        for name, text in cases.items():
            r.state.config_path.write_text(text)
            async with s.post(admin_url(r) + "/admin/reload") as resp:
                body = await resp.text()
                assert resp.status == 422, (name, body)
            async with s.get(admin_url(r) + "/admin/config") as resp:
                shown = await resp.json()
                assert shown["lastReloadError"], name
                outputs.append(f"{name}: {body} {json.dumps(shown)}")
    files = []
    for name, text in cases.items():
        path = tmp_path / f"{name}.json"
        path.write_text(text)
        files.append(path)
    gate = asyncio.Semaphore(4)  # four processes at a time: sixteen starting at once starve two cores

    async def refused(path: Path) -> tuple[int, str]:
        async with gate:
            return await start_output(path)

    for path, (code, out) in zip(files, await asyncio.gather(*(refused(p) for p in files)), strict=True):
        assert code == 1 and "Traceback" not in out, out
        outputs.append(f"{path.name}: {out}")
    outputs.append(caplog.text)
    leaks = [o for o in outputs if "CANARY" in o]
    assert not leaks, "\n".join(leaks)


async def test_row5_a_bad_port_is_a_422_and_the_watcher_keeps_running(openai_up, make_proxy):
    models = [entry("gpt-x", openai_up)]
    async with make_proxy(models, watch=True) as r, aiohttp.ClientSession(headers=AUTH) as s:
        await asyncio.sleep(0.3)  # let the watcher start
        path = r.state.config_path
        write_config(path, [{**models[0], "apiUrl": "http://127.0.0.1:99999/v1/chat/completions"}])
        await eventually(lambda: r.state.last_reload_error is not None)
        assert "apiUrl" in r.state.last_reload_error and "port" in r.state.last_reload_error
        async with s.post(admin_url(r) + "/admin/reload") as resp:
            assert resp.status == 422
            assert any("apiUrl" in e for e in (await resp.json())["errors"])
        assert r.watcher is not None and not r.watcher.done()
        write_config(path, [{**models[0], "modelName": "gpt-y"}])
        await eventually(lambda: r.state.config is not None and "gpt-y" in r.state.config.by_name)


def file_reloads(r: Any) -> int:
    return int(sum(v for k, v in r.state.metrics.reloads.values.items() if ("trigger", "file") in k))


async def test_row14_the_watcher_watches_only_its_one_file(openai_up, make_proxy):
    models = [entry("gpt-x", openai_up)]
    async with make_proxy(models, watch=True) as r:
        await asyncio.sleep(0.3)  # let the watcher start
        path = r.state.config_path
        sub = path.parent / "sub"
        sub.mkdir()
        (sub / path.name).write_text("{}")  # the same name, one folder down
        (sub / "notes.txt").write_text("x")
        (path.parent / "other.json").write_text("{}")
        await asyncio.sleep(0.6)  # several debounce periods
        write_config(path, [{**models[0], "modelName": "gpt-y"}])  # then a real change to the real file
        await eventually(lambda: r.state.config is not None and "gpt-y" in r.state.config.by_name)
        await asyncio.sleep(0.3)
        assert file_reloads(r) == 1


async def test_row5_undecodable_or_deeply_nested_files_are_a_422_and_the_watcher_keeps_running(openai_up, make_proxy):
    bad = {
        "not_utf8": b'\xff\xfe{"models": []}',
        "nested_arrays": b'{"models": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "nested_parameters": b'{"models": [{"parameters": ' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"}]}",
    }
    models = [entry("gpt-x", openai_up)]
    async with make_proxy(models, watch=True) as r, aiohttp.ClientSession(headers=AUTH) as s:
        await asyncio.sleep(0.3)  # let the watcher start
        path = r.state.config_path
        for name, data in bad.items():
            path.write_bytes(data)
            async with s.post(admin_url(r) + "/admin/reload") as resp:
                assert resp.status == 422, name
        assert r.watcher is not None and not r.watcher.done()
        write_config(path, [{**models[0], "modelName": "gpt-y"}])
        await eventually(lambda: r.state.config is not None and "gpt-y" in r.state.config.by_name)
