"""A claudeai model's switches: from its entry's `parameters`, less what its upstream refused.

What the upstream said is remembered until the config changes, so that a model that refuses `temperature`
(Opus 4.7 and later answer 400 to any value) costs one retried request, once.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from proxy.config import ModelRoute

log = logging.getLogger("morpheus_proxy")

# Words in a 400 that say the model takes no temperature at all (Opus 4.7 and later), not a bad value.
_NO_TEMPERATURE = ("deprecated", "not supported", "unsupported", "does not support", "not accept", "not allowed")


@dataclass(frozen=True, slots=True)
class ClaudeOptions:
    """Per-model switches, from the entry's `parameters` (string values, as models-config has them)."""

    temperature: bool = True  # forwardSampling: unset or "true"
    top_p: bool = False  # forwardSampling: "true" (and only when no temperature is sent)
    caching: bool = True  # promptCaching: "false" turns it off
    reasoning: bool = True  # reasoning: "false" drops reasoning_effort and hides thinking text

    @classmethod
    def from_parameters(cls, params: Mapping[str, str]) -> ClaudeOptions:
        sampling = params.get("forwardSampling")
        return cls(
            temperature=sampling != "false",
            top_p=sampling == "true",
            caching=params.get("promptCaching") != "false",
            reasoning=params.get("reasoning") != "false",
        )


DEFAULT_OPTIONS = ClaudeOptions()


def rejects_temperature(status: int, raw: bytes) -> bool:
    """Whether an upstream error says the model takes no temperature (so the request is retried without it)."""
    if status != 400 or b"temperature" not in raw:
        return False
    try:
        err = json.loads(raw).get("error")
    except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
        return False
    message = str(err.get("message") or "").lower() if isinstance(err, dict) else ""
    return "temperature" in message and "top_p" not in message and any(w in message for w in _NO_TEMPERATURE)


class ClaudeModels:
    """Per config version, the model ids known to refuse `temperature`."""

    def __init__(self) -> None:
        self._version: str | None = None
        self._no_temperature: set[str] = set()

    def options(self, route: ModelRoute, version: str) -> ClaudeOptions:
        """The model's switches from its `parameters`, less what its upstream refused under this config."""
        options = ClaudeOptions.from_parameters(route.parameters)
        if version == self._version and route.model_id in self._no_temperature:
            return dataclasses.replace(options, temperature=False, top_p=False)
        return options

    def refused_temperature(self, route: ModelRoute, version: str) -> None:
        """Remember (and log once) that this model's upstream answered 400 to `temperature`."""
        if version != self._version:
            self._version, self._no_temperature = version, set()
        if route.model_id not in self._no_temperature:
            self._no_temperature.add(route.model_id)
            log.warning(
                "model %s (0x%s) does not accept temperature: sending its requests without it until the config changes",
                route.model_name,
                route.model_id,
            )
