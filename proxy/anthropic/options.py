"""What the upstream said about each claudeai model: remembered until the config changes, so that a model
that refuses `temperature` (Opus 4.7 and later answer 400 to any value) costs one retried request, once."""

from __future__ import annotations

import dataclasses
import logging

from proxy.anthropic.request import ClaudeOptions
from proxy.config import ModelRoute

log = logging.getLogger("morpheus_proxy")


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
