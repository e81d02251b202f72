"""models-config loading: the shared version/fingerprint definitions, validation, unknown fields, refusals."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from proxy.config import config_version, key_fingerprint, load_config, parse_config
from proxy.exceptions import ConfigError
from tests.support.fwd_helpers import model_id

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "models-config-nonascii.json"


def test_version_of_the_shared_nonascii_fixture_is_fixed():
    # The reconciler tests the same file for the same value: both sides must agree byte for byte.
    cfg = load_config(FIXTURE)
    assert cfg.version == "cc5c53a00e75e4c1d8ecf7bd0c31da530aee709fffc907a43efb37ac7ecd4663"
    assert config_version(json.loads(FIXTURE.read_text(encoding="utf-8"))) == cfg.version
    assert [r.key_fingerprint for r in cfg.routes] == ["ae46107a0c71", "c97bd8d8cc6c"]


def test_fingerprint_definition():
    assert key_fingerprint("sk-test") == __import__("hashlib").sha256(b"sk-test").hexdigest()[:12]
    assert key_fingerprint(None) is None


def test_routes_from_fixture():
    cfg = load_config(FIXTURE)
    first, second = cfg.routes
    assert first.model_id == "6d6f727068657573000000000000000000000000000000000000000000000001"
    assert (first.kind, first.slots, first.upstream) == ("chat", 4, "https://api.venice.ai:443")
    assert second.model_id.endswith("02") and second.api_type == "claudeai" and second.slots == 0
    public = second.public()
    assert "apiKey" not in public and public["apiKeyFingerprint"] == "c97bd8d8cc6c"
    assert "ключ" not in json.dumps(public, ensure_ascii=False)


def _model(**over):
    m = {
        "modelId": model_id("m"),
        "modelName": "m",
        "apiType": "openai",
        "apiUrl": "http://127.0.0.1:1/v1/chat/completions",
        "apiKey": "k",
    }
    m.update(over)
    return m


def test_unknown_fields_load_with_a_warning():
    cfg = parse_config(
        {"models": [_model(apiStack="vllm", modelFamily="llama", parameters={"a": "b"}, brandNew=1)], "extra": 2},
        "x.json",
    )
    assert len(cfg.routes) == 1
    assert any("brandNew" in w for w in cfg.warnings) and any("extra" in w for w in cfg.warnings)


@pytest.mark.parametrize("api_type", ["prodia-sd", "prodia-sdxl", "prodia-v2", "hyperbolic-sd", "decisions"])
def test_relayed_api_types_load_as_relay_routes(api_type):
    cfg = parse_config({"models": [_model(apiType=api_type, apiUrl="http://127.0.0.1:1/v1/images/x")]}, "x.json")
    assert cfg.routes[0].kind == "relay" and cfg.routes[0].api_type == api_type


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"apiType": "decisions", "apiUrl": "http://127.0.0.1:1/"}, "a decisions URL needs its path"),
        ({"apiType": "prodia-sd", "apiUrl": "http://127.0.0.1:1/v1/sd/generate?x=1"}, "may not hold a query"),
        ({"apiType": "bogus"}, "unknown apiType"),
    ],
)
def test_relayed_api_type_urls_it_cannot_serve_are_refused(over, needle):
    with pytest.raises(ConfigError) as e:
        parse_config({"models": [_model(**over)]}, "x.json")
    assert needle in str(e.value) and "bogus" not in str(e.value)


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"modelId": "0x1234"}, "models[0].modelId"),
        ({"modelName": ""}, "models[0].modelName"),
        ({"apiUrl": "http://127.0.0.1:1/v1/completions"}, "must end with"),
        ({"apiType": "claudeai"}, "/v1/messages"),
        ({"concurrentSlots": -1}, "concurrentSlots"),
        ({"apiType": "gemini"}, "unknown apiType"),
        ({"apiUrl": "ftp://x/v1/embeddings"}, "not an http(s) URL"),
        ({"apiUrl": "http://x/v1 /chat/completions"}, "apiUrl: holds whitespace"),
        ({"apiKey": "k\r\nX-Injected: 1"}, "apiKey: holds a line break"),
        ({"apiUrl": "http://u:k@127.0.0.1:1/v1/embeddings"}, "apiUrl: holds credentials"),
        ({"apiUrl": "http://k@127.0.0.1:1/v1/embeddings"}, "apiUrl: holds credentials"),
    ],
)
def test_invalid_entries_are_reported_with_their_path(over, needle):
    with pytest.raises(ConfigError) as e:
        parse_config({"models": [_model(**over)]}, "x.json")
    assert needle in str(e.value)
    assert "'k'" not in str(e.value)


def test_duplicate_ids_and_bad_json(tmp_path):
    with pytest.raises(ConfigError, match="duplicate model id"):
        parse_config({"models": [_model(), _model(modelId=model_id("m")[2:].upper())]}, "x.json")
    bad = tmp_path / "c.json"
    bad.write_text('{"models": [')
    with pytest.raises(ConfigError, match="invalid JSON"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.json")


def test_schema_api_types_are_all_handled():
    schema = json.loads((ROOT / "schemas" / "models-config.schema.json").read_text())
    from proxy.config import SUPPORTED_API_TYPES

    assert set(schema["$defs"]["model"]["properties"]["apiType"]["enum"]) == SUPPORTED_API_TYPES


def test_settings_file(tmp_path):
    from proxy.exceptions import SettingsError
    from proxy.settings import load_settings_file

    f = tmp_path / "s.yaml"
    f.write_text("idle-timeout: 5\ndefault_max_tokens: 2048\n")
    assert load_settings_file(f) == {"idle_timeout": 5.0, "default_max_tokens": 2048}
    f.write_text("nope: 1\n")
    with pytest.raises(SettingsError, match="unknown setting"):
        load_settings_file(f)


def test_settings_a_forwarder_cannot_run_with_are_refused_at_start(tmp_path, capsys):
    from proxy.cli import main
    from proxy.exceptions import SettingsError
    from proxy.settings import Settings, load_settings_file

    config = tmp_path / "c.json"
    config.write_text(json.dumps({"models": [_model()]}))
    flags = ["--upstream-keepalive-s", "-1", "--connect-timeout", "0"]
    with pytest.raises(SystemExit) as exc:  # before anything listens
        main(["--config", str(config), "--listen", "127.0.0.1:0", *flags])
    assert exc.value.code == 1
    err = capsys.readouterr().err
    assert "connect_timeout: must be above 0" in err and "upstream_keepalive_s: must be 0 or more" in err
    f = tmp_path / "s.yaml"
    f.write_text("idle-timeout: .inf\nmax_stream_bytes: 0\n")
    with pytest.raises(
        SettingsError, match=r"idle_timeout: must be a finite number.*max_stream_bytes: must be above 0"
    ):
        Settings().replace(**load_settings_file(f))
    off = Settings().replace(wait_queue=0, failure_budget=0, upstream_keepalive_s=0.0)  # 0 = off: allowed
    assert off.failure_budget == 0 and off.upstream_keepalive_s == 0.0
    for listen in ("127.0.0.1:99999", "127.0.0.1", "127.0.0.1:-1"):  # one line, never a traceback
        with pytest.raises(SystemExit) as exc:
            main(["--config", str(config), "--listen", listen])
        assert exc.value.code == 1
        assert "expected HOST:PORT with a port from 0 to 65535" in capsys.readouterr().err


def test_warnings_are_logged_on_load(tmp_path, caplog):
    from proxy.settings import Settings
    from proxy.state import ProxyState

    f = tmp_path / "c.json"
    f.write_text(json.dumps({"models": [_model(newField=True)]}))
    with caplog.at_level(logging.WARNING, logger="morpheus_proxy"):
        ProxyState(f, Settings()).load_initial()
    assert "newField" in caplog.text


def test_a_mistyped_key_is_not_echoed():
    with pytest.raises(ConfigError) as e:
        parse_config({"models": [_model(apiKey=12345678901)]}, "x.json")
    assert "models[0].apiKey" in str(e.value) and "12345678901" not in str(e.value)


def test_the_reconcilers_fixture_hashes_the_same_here():
    # the other half of the cross-check: the reconciler's own non-ASCII fixture, with the forwarder's code
    doc = json.loads(
        (ROOT / "tests" / "fixtures" / "models-config-reconciler-nonascii.json").read_text(encoding="utf-8")
    )
    assert config_version(doc) == "37c9d8a51db086d34aa884dd3834579f890abfa2071ad285609a2cab590e2df9"
