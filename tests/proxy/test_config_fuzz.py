"""Issue 17 rows 4 and 5 as a property: any models-config, however broken, loads or is refused with a
ConfigError (never another exception: that was the bare 500 and the dead watcher), and no message about it,
error or warning, ever shows a value that could hold a key."""

from __future__ import annotations

from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from proxy.config import parse_config
from proxy.exceptions import ConfigError

CANARY = "sk-CANARY-5e1d"
FIELDS = ["modelId", "modelName", "apiType", "apiUrl", "apiKey", "concurrentSlots", "parameters", "capacityPolicy"]

GOOD = {
    "modelId": "0x" + "ab" * 32,
    "modelName": "gpt-x",
    "apiType": "openai",
    "apiUrl": "https://api.example.com/v1/chat/completions",
    "apiKey": CANARY,
    "concurrentSlots": 2,
}

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.text(max_size=12),
    st.just(CANARY),
    st.sampled_from(
        [
            f"http://h:99999/v1/chat/completions?k={CANARY}",
            f"https://user:{CANARY}@h/v1/embeddings",
            f"http://[::1/v1/chat/completions#{CANARY}",
            f"http://h:{CANARY}/v1/chat/completions",
            "claudeai",
            "prodia-sd",
            CANARY + "\n",
        ]
    ),
)
values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["k", CANARY, "x y"]), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def configs(draw: st.DrawFn) -> Any:
    entries = []
    for _ in range(draw(st.integers(0, 3))):
        e = dict(GOOD)
        for field in draw(st.lists(st.sampled_from(FIELDS), max_size=3)):
            if draw(st.booleans()):
                e[field] = draw(values)
            else:
                e.pop(field, None)
        if draw(st.booleans()):
            e[draw(st.sampled_from([CANARY, "extra", "apistack"]))] = draw(values)
        entries.append(e)
    shape = draw(st.sampled_from(["list", "list", "object", "value", "root"]))
    if shape == "list":
        return {"models": entries}
    if shape == "object":
        return {"models": {str(i): e for i, e in enumerate(entries)}}
    if shape == "value":
        return {"models": draw(values), CANARY: 1}
    return draw(values)


@settings(max_examples=400, deadline=None, database=None)
@given(configs())
@example({"models": [{**GOOD, "apiType": []}]})  # found by this test: an unhashable apiType raised TypeError
def test_any_config_loads_or_is_refused_without_showing_a_value(obj: Any) -> None:
    try:
        cfg = parse_config(obj, "models-config.json")
    except ConfigError as exc:
        shown = [str(exc), *exc.errors]
    else:
        shown = list(cfg.warnings)
    assert not [m for m in shown if "CANARY" in m], shown
